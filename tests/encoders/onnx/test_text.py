"""The ONNX int8 text backend on a tiny random BERT (tokenizer from the packaged MiniLM):
same embeddings as torch up to quantisation, cached exports, and encoders built from a
cached export alone, with the tokenizer it carries."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import AWKWARD, TEXTS

from retrieval_tagger import artifacts
from retrieval_tagger.encoders.onnx import cache as onnx_cache
from retrieval_tagger.encoders.onnx import export as onnx_export
from retrieval_tagger.encoders.onnx import text as onnx_text
from retrieval_tagger.encoders.registry import load_text_encoder


def test_onnx_int8_matches_torch_up_to_quantisation(tiny_text_model):
    torch_enc = load_text_encoder(tiny_text_model, "cpu", backend="torch")
    onnx_enc = load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8")
    assert type(onnx_enc).__name__ == "OnnxTextEncoder" and onnx_enc.backend == "onnx-int8"
    assert onnx_enc.checksum == torch_enc.checksum and onnx_enc.dim == torch_enc.dim == 32
    a, b = onnx_enc.encode(TEXTS), torch_enc.encode(TEXTS)
    assert a.dtype == np.float32 and a.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > 0.97, cosines
    # batching and order do not change a text's embedding beyond float noise
    one_by_one = np.concatenate([onnx_enc.encode([t], batch_size=1) for t in TEXTS])
    np.testing.assert_allclose(one_by_one, a, atol=1e-4)
    assert onnx_enc.encode([]).shape == (0, 32)


def test_export_is_cached_and_redone_when_corrupt(tiny_text_model, private_cache, monkeypatch):
    encoder = load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8")
    folder, _ = onnx_cache.find("onnx-text", onnx_text.export_key(encoder.checksum), onnx_text.FORMAT, onnx_text.FORMAT_VERSION)
    assert folder.parent.parent == private_cache
    manifest = onnx_cache.read_manifest(folder, onnx_text.FORMAT, onnx_text.FORMAT_VERSION)
    assert manifest["source_checksum"].startswith(folder.name.split("-")[0])
    assert manifest["files"][onnx_cache.MODEL_FILE]["sha256"] == artifacts.sha256_file(folder / onnx_cache.MODEL_FILE)
    assert set(manifest["versions"]) == {"torch", "onnx", "onnxruntime"}

    def no_export(*args):
        raise AssertionError("exported again although the cache holds the model")

    monkeypatch.setattr(onnx_export, "export_int8", no_export)
    load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8")
    monkeypatch.undo()
    monkeypatch.setenv("RTAG_CACHE_DIR", str(private_cache))
    with open(folder / onnx_cache.MODEL_FILE, "ab") as fh:
        fh.write(b"garbage")
    encoder = load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8")
    assert encoder.encode(["red shirt"]).shape == (1, 32)
    assert onnx_cache.read_manifest(folder, onnx_text.FORMAT, onnx_text.FORMAT_VERSION) is not None


def test_saved_tokenizer_gives_the_transformers_ids(tiny_text_model):
    """The tokenizer an export carries pads and truncates as the model's own transformers
    tokenizer (what the torch-loaded ONNX encoder ran before exports carried one)."""
    from sentence_transformers import SentenceTransformer

    encoder = load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8")
    assert isinstance(encoder.tokenize, onnx_text.SavedTokenizer)
    st = SentenceTransformer(tiny_text_model, device="cpu")
    for batch in (TEXTS, AWKWARD, AWKWARD[:1], [AWKWARD[5]]):
        want = st.tokenizer(batch, padding=True, truncation=True, max_length=encoder.max_length, return_tensors="np")
        got = encoder.tokenize(batch)
        assert set(got) == set(encoder.inputs) == {"input_ids", "token_type_ids", "attention_mask"}
        for name in encoder.inputs:
            assert got[name].dtype == np.int64
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert encoder.tokenize([AWKWARD[5]])["input_ids"].shape == (1, encoder.max_length)  # truncated


def test_encoder_from_a_cached_export_needs_no_model(tiny_text_model, monkeypatch):
    """With the index's record of the weights, a cached export is used as it is: same
    embeddings as the encoder that loaded the model and tokenised with transformers."""
    from retrieval_tagger.encoders import text as text_module

    loaded = load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8")
    reference = onnx_text.OnnxTextEncoder(tiny_text_model, *onnx_cache.find("onnx-text", onnx_text.export_key(loaded.checksum),
                                                                      onnx_text.FORMAT, onnx_text.FORMAT_VERSION),
                                          tokenize=onnx_export.model_tokenizer(text_module.SentenceTextEncoder(tiny_text_model, tiny_text_model, "cpu").model,
                                                                               loaded.max_length, loaded.inputs))

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded although the cache holds its export")

    monkeypatch.setattr(text_module, "SentenceTextEncoder", no_model)
    cached = load_text_encoder(tiny_text_model, "cpu", backend="auto", recorded={"checksum": loaded.checksum})
    assert (cached.spec, cached.checksum, cached.dim, cached.backend) == (tiny_text_model, loaded.checksum, 32, "onnx-int8")
    np.testing.assert_array_equal(cached.encode(TEXTS + AWKWARD), reference.encode(TEXTS + AWKWARD))
    with pytest.raises(AssertionError, match="the model was loaded"):  # other weights: not in the cache
        load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8", recorded={"checksum": "0" * 64})
    with pytest.raises(AssertionError, match="the model was loaded"):  # torch asked for: the model itself
        load_text_encoder(tiny_text_model, "cpu", backend="torch", recorded={"checksum": loaded.checksum})
