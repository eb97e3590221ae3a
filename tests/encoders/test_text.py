"""The sentence-transformers text encoder on torch: the tiny model, and the real packaged
MiniLM once (slow)."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import TEXTS

from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.encoders.checksum import state_dict_sha256
from retrieval_tagger.encoders.registry import load_text_encoder
from retrieval_tagger.encoders.text import SentenceTextEncoder
from retrieval_tagger.errors import EncoderError
from retrieval_tagger.pipeline import Tagger


def test_the_tiny_model_gives_unit_vectors_whatever_the_batch(tiny_text_model):
    encoder = load_text_encoder(tiny_text_model, "cpu", backend="torch")
    assert isinstance(encoder, SentenceTextEncoder) and (encoder.backend, encoder.dim, encoder.device) == ("torch", 32, "cpu")
    assert encoder.checksum == state_dict_sha256(encoder.model)
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.concatenate([encoder.encode([t], batch_size=1) for t in TEXTS]), vectors, atol=1e-5)
    assert encoder.encode([]).shape == (0, 32)
    assert not np.allclose(vectors[0], vectors[1])


def test_a_folder_that_holds_no_model_is_refused_with_what_to_give(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match="cannot load text model .*a local model folder, or 'minilm'"):
        SentenceTextEncoder(str(tmp_path / "empty"), str(tmp_path / "empty"), "cpu")


@pytest.fixture(scope="module")
def minilm_tagger(tmp_path_factory, catalog_csv, facet_spec):
    out = tmp_path_factory.mktemp("minilm") / "idx"
    man = build_index(catalog_csv, out, facet_spec, BuildOptions(text_model="minilm", image_model="none"))
    assert man["encoders"]["text"]["dim"] == 384
    assert "image" not in man["stores"]
    return Tagger.load(out)


@pytest.mark.slow  # the real packaged MiniLM
def test_minilm_tags_a_query_with_the_catalog_words(minilm_tagger):
    (result,) = minilm_tagger.tag([{"id": "q", "text": "blue denim jeans"}], top_n=4)
    tags = [t["tag"] for t in result.tags]
    assert tags[0] in {"article:jeans", "denim"}
    assert {"article:jeans", "denim", "colour:blue"} <= set(tags)


@pytest.mark.slow
@pytest.mark.parametrize(
    "query, article",
    [("trousers", "jeans"), ("sneakers", "shoes"), ("boots", "shoes"), ("gown", "dress")],
)
def test_minilm_understands_words_the_catalog_never_uses(minilm_tagger, query, article):
    # no word or trigram in common with the catalog titles: the hashing encoder could not do this
    (result,) = minilm_tagger.tag([{"id": "q", "text": query}], top_n=4)
    best_article = next(t["tag"] for t in result.tags if t["tag"].startswith("article:"))
    assert best_article == f"article:{article}"
