"""The reviewable mapping file: one row per catalog facet tag, saved as CSV, and an edited
copy loaded back as corrections that tagging uses."""

from __future__ import annotations

import csv

import pytest
from toy_catalog import VOCAB_QUERIES

from retrieval_tagger.errors import VocabError
from retrieval_tagger.vocab import map_file


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_review_rows_cover_every_facet_tag_with_ids(vocab_tagger, tmp_path):
    rows, stored = map_file.review(vocab_tagger.index, "tax")
    facet_tags = [t for t in vocab_tagger.index.vocab.tags if ":" in t]
    assert stored is None and sorted(r["catalog_tag"] for r in rows) == sorted(facet_tags)
    shirt = next(r for r in rows if r["catalog_tag"] == "article:shirt")
    assert shirt["node"] == "Clothing > Tops > shirt" and shirt["node_id"] == "3" and not shirt["corrected"]
    map_file.write_rows(tmp_path / "map.csv", rows)
    assert _rows(tmp_path / "map.csv") == [{k: str(v) for k, v in r.items()} for r in rows]


def test_edited_rows_become_corrections_used_when_tagging(vocab_tagger, tmp_path):
    rows, _ = map_file.review(vocab_tagger.index, "tax")
    before = vocab_tagger.tag(VOCAB_QUERIES[:1], vocab="tax", min_score=0.0)[0].tags
    assert before[-1]["tag"] == "Clothing > Tops > shirt"
    for row in rows:  # a reviewer moves shirts (by id) and leaves every other row as it was
        if row["catalog_tag"] == "article:shirt":
            row.update(node_id="7", node="")
    map_file.write_rows(tmp_path / "edited.csv", rows)
    rows, stored = map_file.review(vocab_tagger.index, "tax", tmp_path / "edited.csv")
    assert stored == 1 and [r["catalog_tag"] for r in rows if r["corrected"]] == ["article:shirt"]
    vocab_tagger._vocab_runs.clear()  # the stored vocabulary changed on disk: prepare it again
    after = vocab_tagger.tag(VOCAB_QUERIES[:1], vocab="tax", min_score=0.0, mode="knn")[0].tags
    assert after[-1]["tag"] == "Accessories > hat"


def test_bad_correction_rows_are_refused_with_their_line(vocab_tagger, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("catalog_tag,node\narticle:shirt,Clothing > Nowhere\n", encoding="utf-8")
    with pytest.raises(VocabError, match="line 2: node 'Clothing > Nowhere' is not in the taxonomy"):
        map_file.review(vocab_tagger.index, "tax", path)
    path.write_text("catalog_tag,node\nsize:XL,Clothing\n", encoding="utf-8")
    with pytest.raises(VocabError, match="not a facet tag of the index"):
        map_file.review(vocab_tagger.index, "tax", path)
    path.write_text("tag,where\n", encoding="utf-8")
    with pytest.raises(VocabError, match="needs a catalog_tag column"):
        map_file.review(vocab_tagger.index, "tax", path)


def test_a_flat_vocabulary_has_no_mapping(vocab_tagger):
    with pytest.raises(VocabError, match="is not mapped through the catalog's tags"):
        map_file.review(vocab_tagger.index, "facets")
