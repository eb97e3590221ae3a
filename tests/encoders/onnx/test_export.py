"""Exporting a sentence-transformers model to int8 ONNX: other pooling modes, pipelines it
cannot export, and models without a fast tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import TEXTS, tiny_sentence_model

from retrieval_tagger.encoders.onnx import export as onnx_export
from retrieval_tagger.encoders.onnx import text as onnx_text
from retrieval_tagger.encoders.registry import load_text_encoder
from retrieval_tagger.errors import EncoderError


@pytest.mark.parametrize("pooling", ["cls", "max"])
def test_other_pooling_modes(tmp_path, monkeypatch, pooling):
    # the weights are the session's tiny model's, and so is the checksum that keys exports
    monkeypatch.setenv("RTAG_CACHE_DIR", str(tmp_path / "cache"))
    model = tiny_sentence_model(tmp_path, pooling)
    a = load_text_encoder(model, "cpu", backend="onnx-int8").encode(TEXTS)
    b = load_text_encoder(model, "cpu", backend="torch").encode(TEXTS)
    assert (a * b).sum(axis=1).min() > 0.97


def test_unsupported_pipeline_errors_when_asked_for_and_falls_back_when_automatic(tmp_path, caplog):
    model = tiny_sentence_model(tmp_path, dense=True)
    with pytest.raises(EncoderError, match="Transformer \\+ Pooling"):
        load_text_encoder(model, "cpu", backend="onnx-int8")
    encoder = load_text_encoder(model, "cpu", backend="auto")
    assert encoder.backend == "torch" and encoder.dim == 16
    assert "using the torch text backend" in caplog.text


def test_exports_without_a_fast_tokenizer_use_the_models_own(tiny_text_model, private_cache, monkeypatch):
    import shutil

    with_tokenizer = load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8").encode(TEXTS)
    shutil.rmtree(private_cache)
    monkeypatch.setattr(onnx_export, "save_tokenizer", lambda *args: None)
    encoder = load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8")
    assert not isinstance(encoder.tokenize, onnx_text.SavedTokenizer)
    assert onnx_text.OnnxTextEncoder.from_cache(tiny_text_model, encoder.checksum) is None  # the model is needed to tokenise
    np.testing.assert_allclose(encoder.encode(TEXTS), with_tokenizer, atol=1e-6)
