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
    list_vocabs,
    load_vocab,
    remove_vocab,
)


def test_prompt_ensemble_averages_templates():
    def encode(texts):
        return np.asarray([[1.0, 0.0] if t.startswith("a photo") else [0.0, 1.0] for t in texts], dtype=np.float32)

    vecs = embed_entries(encode, [Entry(tag="red", name="red")], ("{}", "a photo of {}"))
    np.testing.assert_allclose(vecs, [[2 ** -0.5, 2 ** -0.5]], rtol=1e-6)


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
