"""pipeline.py: a Tagger is one generation of its index. A rebuild, retraining or a new
vocabulary after it opened the index changes nothing it answers (its reranker and
vocabularies were opened with the index) until reload(), which says whether anything
changed and then answers as a new Tagger would."""

from __future__ import annotations

import shutil

import pytest
from toy_catalog import (
    COLUMNS,
    FACET_VOCAB,
    TAXONOMY,
    VOCAB_QUERIES,
    catalog_rows,
    write_catalog,
    write_file,
)

from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.index.reader import open_index
from retrieval_tagger.pipeline import Tagger

QUERIES = [*VOCAB_QUERIES, {"id": "d", "title": "green wool scarf"}]


def tags(tagger: Tagger, **options) -> list[dict]:
    return [r.to_dict() for r in tagger.tag(QUERIES, top_n=4, **options)]


@pytest.fixture()
def served(reranked, tmp_path, encoders):
    """A copy of the reranked index with two stored vocabularies, opened by a Tagger."""
    folder = tmp_path / "index"
    shutil.copytree(reranked[0], folder)
    adder = Tagger(open_index(folder), *encoders)
    adder.add_vocab(write_file(tmp_path / "facets.txt", FACET_VOCAB), "facets")
    adder.add_vocab(write_file(tmp_path / "tax.txt", TAXONOMY), "tax")
    return folder, Tagger(open_index(folder), *encoders)


def rebuild_other(folder, tmp_path, encoders):
    """Replace the index with one built from a smaller catalog with other tags."""
    rows = [dict(r, tags="") for r in catalog_rows(tmp_path / "images2")[:12]]
    other = write_catalog(tmp_path / "other.csv", rows, COLUMNS)
    build_index(other, folder, CatalogSpec(facet_cols=["colour"], allow_missing_images=True), BuildOptions(force=True), encoders=encoders)


def test_a_rebuilt_index_changes_nothing_a_running_tagger_answers(served, tmp_path, encoders):
    folder, tagger = served
    assert tagger.reranker is not None
    before, before_tax = tags(tagger), tags(tagger, vocab="tax")  # "facets" is not read yet
    rebuild_other(folder, tmp_path, encoders)
    assert not (folder / "reranker").exists() and not (folder / "vocabs").exists()
    assert tags(tagger) == before and tags(tagger, vocab="tax") == before_tax
    facets = tags(tagger, vocab="facets")  # first used after the rebuild: read from what it opened
    assert len(facets) == 4 and all(r["tags"] for r in facets)

    assert tagger.reload() is True
    assert tagger.reranker is None and tagger.index.vocabs == {}
    assert tags(tagger) == tags(Tagger(open_index(folder), *encoders))
    assert tags(tagger) != before
    assert tagger.reload() is False


def test_reload_sees_a_retrained_reranker_and_a_new_vocabulary(served, tmp_path, encoders):
    from retrieval_tagger.rerank import model

    folder, tagger = served
    assert tagger.reload() is False
    other = Tagger(open_index(folder), *encoders)
    other.add_vocab(write_file(tmp_path / "more.txt", "colour:red\ncolour:blue\n"), "more")
    with pytest.raises(Exception, match="has no vocabulary 'more'"):
        tagger.tag(QUERIES, vocab="more")
    assert tagger.reload() is True and tags(tagger, vocab="more")
    model.save(model.load(other.index), other.index, {"note": "retrained"})
    assert tagger.reload() is True and tagger.reranker.manifest["training"] == {"note": "retrained"}


def test_load_reads_the_reranker_of_the_index_it_opened(served, tmp_path, encoders, monkeypatch):
    """The tester's case: `rtag tag` opened the index, a rebuild landed while its encoders
    loaded (about 30 s), and it tagged without the old index's reranker, silently."""
    from retrieval_tagger import pipeline

    folder, _ = served
    real = pipeline._load_encoders

    def rebuild_while_loading(opened, options):
        rebuild_other(folder, tmp_path, encoders)
        return real(opened, options)

    monkeypatch.setattr(pipeline, "_load_encoders", rebuild_while_loading)
    tagger = Tagger.load(folder)
    assert tagger.reranker is not None and tagger.index.manifest["counts"]["products"] == 30
    assert tagger.reload() is True and tagger.reranker is None and tagger.index.manifest["counts"]["products"] == 12
