"""The ONNX int8 text backend on a tiny random BERT (tokenizer from the packaged MiniLM):
same embeddings as torch up to quantisation, cached exports (and encoders built from them
alone, with the tokenizer they carry), backend choice and errors."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger import artifacts
from retrieval_tagger.encoders.onnx import cache as onnx_cache
from retrieval_tagger.encoders.onnx import export as onnx_export
from retrieval_tagger.encoders.onnx import text as onnx_text
from retrieval_tagger.encoders.registry import load_text_encoder, text_backend
from retrieval_tagger.errors import EncoderError

TEXTS = ["red cotton shirt", "blue denim jeans for men", "a", "leather shoes " * 40, "Ünïcödé silk dress"]
# what tokenisers trip on: nothing, blanks, accents and CJK, special tokens typed by a user, truncation
AWKWARD = ["", "   ", "Ünïcödé  silk\tdress", "夏季 连衣裙", "a [SEP] b [MASK] [PAD] [CLS]", "word " * 200, "don't-stop/now!!"]


def tiny_sentence_model(folder, pooling="mean", dense=False):
    """A sentence-transformers model folder in ``folder``: a tiny random BERT with the
    packaged MiniLM's tokenizer, ``pooling`` and, with ``dense``, a Dense layer."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from retrieval_tagger.encoders.lite import minilm_path

    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers import models

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    modules = [models.Transformer(str(folder / "bert"), max_seq_length=64), models.Pooling(32, pooling)]
    if dense:
        modules.append(models.Dense(32, 16))
    modules.append(models.Normalize())
    SentenceTransformer(modules=modules, device="cpu").save(str(folder / "st"))
    return str(folder / "st")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_sentence_model(tmp_path_factory.mktemp("tiny-st"))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RTAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RTAG_TEXT_BACKEND", raising=False)
    return tmp_path / "cache"


def test_onnx_int8_matches_torch_up_to_quantisation(tiny_model):
    torch_enc = load_text_encoder(tiny_model, "cpu", backend="torch")
    onnx_enc = load_text_encoder(tiny_model, "cpu", backend="onnx-int8")
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


@pytest.mark.parametrize("pooling", ["cls", "max"])
def test_other_pooling_modes(tmp_path, pooling):
    model = tiny_sentence_model(tmp_path, pooling)
    a = load_text_encoder(model, "cpu", backend="onnx-int8").encode(TEXTS)
    b = load_text_encoder(model, "cpu", backend="torch").encode(TEXTS)
    assert (a * b).sum(axis=1).min() > 0.97


def test_export_is_cached_and_redone_when_corrupt(tiny_model, cache, monkeypatch):
    load_text_encoder(tiny_model, "cpu", backend="onnx-int8")
    (folder,) = (cache / "onnx-text").iterdir()
    manifest = onnx_cache.read_manifest(folder, onnx_text.FORMAT, onnx_text.FORMAT_VERSION)
    assert manifest["source_checksum"].startswith(folder.name.split("-")[0])
    assert manifest["files"][onnx_cache.MODEL_FILE]["sha256"] == artifacts.sha256_file(folder / onnx_cache.MODEL_FILE)
    assert set(manifest["versions"]) == {"torch", "onnx", "onnxruntime"}

    def no_export(*args):
        raise AssertionError("exported again although the cache holds the model")

    monkeypatch.setattr(onnx_export, "export_int8", no_export)
    load_text_encoder(tiny_model, "cpu", backend="onnx-int8")
    monkeypatch.undo()
    monkeypatch.setenv("RTAG_CACHE_DIR", str(cache))
    with open(folder / onnx_cache.MODEL_FILE, "ab") as fh:
        fh.write(b"garbage")
    encoder = load_text_encoder(tiny_model, "cpu", backend="onnx-int8")
    assert encoder.encode(["red shirt"]).shape == (1, 32)
    assert onnx_cache.read_manifest(folder, onnx_text.FORMAT, onnx_text.FORMAT_VERSION) is not None


def test_unsupported_pipeline_errors_when_asked_for_and_falls_back_when_automatic(tmp_path, caplog):
    model = tiny_sentence_model(tmp_path, dense=True)
    with pytest.raises(EncoderError, match="Transformer \\+ Pooling"):
        load_text_encoder(model, "cpu", backend="onnx-int8")
    encoder = load_text_encoder(model, "cpu", backend="auto")
    assert encoder.backend == "torch" and encoder.dim == 16
    assert "using the torch text backend" in caplog.text


def test_backend_choice(monkeypatch):
    assert text_backend(None, "cpu") == "onnx-int8"
    assert text_backend("auto", "cuda") == "torch"
    assert text_backend("TORCH", "cpu") == "torch"
    monkeypatch.setenv("RTAG_TEXT_BACKEND", "torch")
    assert text_backend(None, "cpu") == "torch"
    with pytest.raises(EncoderError, match="choose one of auto, torch, onnx-int8"):
        text_backend("tensorrt", "cpu")
    with pytest.raises(EncoderError, match="runs on the CPU"):
        text_backend("onnx-int8", "cuda")


def test_hashing_encoder_ignores_the_backend():
    assert load_text_encoder("hash:16", "cpu", backend="onnx-int8").dim == 16


def test_saved_tokenizer_gives_the_transformers_ids(tiny_model):
    """The tokenizer an export carries pads and truncates as the model's own transformers
    tokenizer (what the torch-loaded ONNX encoder ran before exports carried one)."""
    from sentence_transformers import SentenceTransformer

    encoder = load_text_encoder(tiny_model, "cpu", backend="onnx-int8")
    assert isinstance(encoder.tokenize, onnx_text.SavedTokenizer)
    st = SentenceTransformer(tiny_model, device="cpu")
    for batch in (TEXTS, AWKWARD, AWKWARD[:1], [AWKWARD[5]]):
        want = st.tokenizer(batch, padding=True, truncation=True, max_length=encoder.max_length, return_tensors="np")
        got = encoder.tokenize(batch)
        assert set(got) == set(encoder.inputs) == {"input_ids", "token_type_ids", "attention_mask"}
        for name in encoder.inputs:
            assert got[name].dtype == np.int64
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert encoder.tokenize([AWKWARD[5]])["input_ids"].shape == (1, encoder.max_length)  # truncated


def test_encoder_from_a_cached_export_needs_no_model(tiny_model, monkeypatch):
    """With the index's record of the weights, a cached export is used as it is: same
    embeddings as the encoder that loaded the model and tokenised with transformers."""
    from retrieval_tagger.encoders import text as text_module

    loaded = load_text_encoder(tiny_model, "cpu", backend="onnx-int8")
    reference = onnx_text.OnnxTextEncoder(tiny_model, *onnx_cache.find("onnx-text", onnx_text.export_key(loaded.checksum),
                                                                      onnx_text.FORMAT, onnx_text.FORMAT_VERSION),
                                          tokenize=onnx_export.model_tokenizer(text_module.SentenceTextEncoder(tiny_model, tiny_model, "cpu").model,
                                                                               loaded.max_length, loaded.inputs))

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded although the cache holds its export")

    monkeypatch.setattr(text_module, "SentenceTextEncoder", no_model)
    cached = load_text_encoder(tiny_model, "cpu", backend="auto", recorded={"checksum": loaded.checksum})
    assert (cached.spec, cached.checksum, cached.dim, cached.backend) == (tiny_model, loaded.checksum, 32, "onnx-int8")
    np.testing.assert_array_equal(cached.encode(TEXTS + AWKWARD), reference.encode(TEXTS + AWKWARD))
    with pytest.raises(AssertionError, match="the model was loaded"):  # other weights: not in the cache
        load_text_encoder(tiny_model, "cpu", backend="onnx-int8", recorded={"checksum": "0" * 64})
    with pytest.raises(AssertionError, match="the model was loaded"):  # torch asked for: the model itself
        load_text_encoder(tiny_model, "cpu", backend="torch", recorded={"checksum": loaded.checksum})


def test_exports_without_a_fast_tokenizer_use_the_models_own(tiny_model, cache, monkeypatch):
    import shutil

    with_tokenizer = load_text_encoder(tiny_model, "cpu", backend="onnx-int8").encode(TEXTS)
    shutil.rmtree(cache)
    monkeypatch.setattr(onnx_export, "save_tokenizer", lambda *args: None)
    encoder = load_text_encoder(tiny_model, "cpu", backend="onnx-int8")
    assert not isinstance(encoder.tokenize, onnx_text.SavedTokenizer)
    assert onnx_text.OnnxTextEncoder.from_cache(tiny_model, encoder.checksum) is None  # the model is needed to tokenise
    np.testing.assert_allclose(encoder.encode(TEXTS), with_tokenizer, atol=1e-6)
