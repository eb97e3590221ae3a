"""Stored vocabularies: embedded with prompt templates, versioned with their source,
replaced and removed, and refused when embedded with another model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from toy_catalog import VOCAB_QUERIES, write_file

from retrieval_tagger.errors import VocabError
from retrieval_tagger.vocab.files import Entry
from retrieval_tagger.vocab.stored import (
    embed_entries,
    entry_texts,
    list_vocabs,
    load_vocab,
    remove_vocab,
)


def test_prompt_ensemble_averages_templates():
    def encode(texts):
        return np.asarray([[1.0, 0.0] if t.startswith("a photo") else [0.0, 1.0] for t in texts], dtype=np.float32)

    vecs = embed_entries(encode, [Entry(tag="red", name="red")], ("{}", "a photo of {}"))
    np.testing.assert_allclose(vecs, [[2 ** -0.5, 2 ** -0.5]], rtol=1e-6)


def test_taxonomy_nodes_are_embedded_as_their_place_under_the_parent(vocab_tagger):
    # no templates (a taxonomy's default): one text per node, the root its bare name
    assert entry_texts(Entry(tag="A > b", name="b", parent=0), "A", ()) == ["b, a kind of A"]
    assert entry_texts(Entry(tag="A", name="A"), "", ()) == ["A"]
    assert load_vocab(vocab_tagger.index, "tax").manifest["templates"] == []
    assert load_vocab(vocab_tagger.index, "facets").manifest["templates"][0] == "{}"


def test_stored_vocabulary_is_versioned_with_its_source(vocab_tagger, text_index_copy):
    man = json.loads((text_index_copy / "vocabs" / "facets" / "manifest.json").read_text())
    assert man["format"] == "rtag-vocab" and man["format_version"] == 1 and len(man["source"]["sha256"]) == 64
    assert man["tag_spaces"] == ["text"] and man["spaces"] == ["text", "text_neighbours"] and man["counts"] == {"tags": 6, "depth": 1}
    assert {"entries.json", "text.npy", "text_stats.npy"} <= set(man["files"])
    assert [m["name"] for m in list_vocabs(text_index_copy)] == ["facets", "tax"]
    stored = load_vocab(vocab_tagger.index, "tax")
    assert stored.is_taxonomy and stored.vectors["text"].shape == (8, 64)


def test_missing_replaced_and_removed_vocabularies(vocab_tagger, text_index_copy):
    with pytest.raises(VocabError, match="has no vocabulary 'nope' \\(it has: facets, tax\\)"):
        vocab_tagger.tag(VOCAB_QUERIES, vocab="nope")
    with pytest.raises(VocabError, match="--force"):
        vocab_tagger.add_vocab(write_file(text_index_copy.parent / "facets.txt", "colour:red\n"), "facets")
    vocab_tagger.add_vocab(text_index_copy.parent / "facets.txt", "facets", force=True)
    assert load_vocab(vocab_tagger.index, "facets").tags == ["colour:red"]
    remove_vocab(text_index_copy, "facets")
    with pytest.raises(VocabError, match="has no vocabulary"):
        remove_vocab(text_index_copy, "facets")
    with pytest.raises(VocabError, match="template"):
        vocab_tagger.add_vocab(text_index_copy.parent / "facets.txt", "t", templates=["no slot"])


def test_vocabulary_embedded_with_another_model_is_refused(vocab_tagger, text_index_copy):
    man_path = text_index_copy / "vocabs" / "facets" / "manifest.json"
    man = json.loads(man_path.read_text())
    man["encoders"]["text"] = "0" * 64
    man_path.write_text(json.dumps({k: v for k, v in man.items() if k != "seal"})); vocab_tagger.reload()  # edited: unsealed; read again
    with pytest.raises(VocabError, match="another text model"):
        vocab_tagger.tag(VOCAB_QUERIES, vocab="facets")


def test_colour_tags_are_named_from_the_photo(both_index, tmp_path):
    import shutil

    from toy_catalog import COLOURS, write_square

    from retrieval_tagger.encoders import colour
    from retrieval_tagger.pipeline import Tagger

    folder = tmp_path / "index"
    shutil.copytree(both_index, folder)
    tagger = Tagger.load(folder)
    man = tagger.add_vocab(write_file(tmp_path / "colours.txt", "colour:red\ncolour:Navy Blue\ncolour:black\narticle:shirt\n"), "colours")
    assert "colour_names" in man["tag_spaces"] and "colour_names" in man["spaces"] and "colour_names" not in man["encoders"]
    stored = load_vocab(tagger.index, "colours")
    assert stored.vectors["colour_names"].shape == (4, colour.DIM) and not stored.vectors["colour_names"][3].any()
    photos = [{"id": name, "image": str(write_square(tmp_path / f"{name}.png", rgb))}
              for name, rgb in (("red", COLOURS["red"]), ("navy", (10, 20, 120)), ("black", COLOURS["black"]))]
    scores, *_ = tagger.score_vocab(photos, vocab="colours", mode="zeroshot", vocab_weights={"colour_names": 1.0})
    assert [stored.tags[j] for j in scores[:, :3].argmax(axis=1)] == ["colour:red", "colour:Navy Blue", "colour:black"]
