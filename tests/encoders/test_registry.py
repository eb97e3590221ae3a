"""The table of encoder specs: every form found, unknown specs refused with the valid forms,
and the choice of text and image backends."""

from __future__ import annotations

import pytest

from retrieval_tagger.encoders.registry import (
    image_backend,
    load_image_encoder,
    load_text_encoder,
    spec_form,
    text_backend,
)
from retrieval_tagger.errors import EncoderError


@pytest.mark.parametrize("spec, form", [
    ("hash:64", "hash:DIM"), ("minilm", "minilm"), ("sentence-transformers/all-MiniLM-L6-v2", "minilm"),
    ("sentence-transformers/all-mpnet-base-v2", "NAME"), ("intfloat/e5-small-v2", "NAME"),
])
def test_text_specs_find_their_form(spec, form):
    assert spec_form(spec, "text").form == form


@pytest.mark.parametrize("spec, form", [
    ("none", "none"), ("rtag-lite", "rtag-lite"), ("rtag-lite@160", "rtag-lite@SIZE"), ("rtag-tiny:random", "ARCH:random"),
    ("ViT-B-32:laion2b_s34b_b79k", "ARCH:TAG"), ("ViT-B-32:/models/ckpt.pt", "ARCH:/path/to/ckpt.pt"), ("ViT-B-32:ckpt.bin", "ARCH:/path/to/ckpt.pt"),
])
def test_image_specs_find_their_form(spec, form):
    assert spec_form(spec, "image").form == form


def test_model_folders_are_specs_of_both_kinds(tmp_path):
    assert spec_form(str(tmp_path), "text").form == "FOLDER"
    assert spec_form(str(tmp_path), "image").form == "MODEL_DIR"


def test_unknown_specs_are_refused_with_the_valid_forms():
    with pytest.raises(EncoderError, match="unknown text spec 'no such:model': write one of these forms: hash:DIM .*minilm .*FOLDER .*NAME"):
        load_text_encoder("no such:model")
    with pytest.raises(EncoderError, match="unknown image spec 'vit': write one of these forms: none .*MODEL_DIR .*rtag-lite .*ARCH:TAG"):
        load_image_encoder("vit")


def test_a_spec_of_no_known_form_is_refused_and_none_means_no_image_model():
    with pytest.raises(EncoderError, match="unknown image spec 'rtag-tiny': write one of these forms: none .*ARCH:TAG"):
        load_image_encoder("rtag-tiny")
    assert load_image_encoder("none") is None


@pytest.mark.parametrize("choose, variable, onnx, unknown", [
    (text_backend, "RTAG_TEXT_BACKEND", "onnx-int8", "unknown text backend 'tensorrt': choose one of auto, torch, onnx-int8"),
    (image_backend, "RTAG_IMAGE_BACKEND", "onnx", "unknown image backend 'tensorrt': choose one of auto, torch, onnx"),
], ids=["text", "image"])
def test_backend_choice(monkeypatch, choose, variable, onnx, unknown):
    monkeypatch.delenv(variable, raising=False)
    assert choose(None, "cpu") == onnx
    assert choose(None, "cuda") == choose("auto", "cuda") == "torch"
    assert choose("TORCH", "cpu") == "torch"
    monkeypatch.setenv(variable, "torch")
    assert choose(None, "cpu") == "torch"
    with pytest.raises(EncoderError, match=unknown):
        choose("tensorrt", "cpu")
    for device in ("cuda", "cuda:0"):
        with pytest.raises(EncoderError, match="runs on the CPU"):
            choose(onnx, device)


def test_hashing_encoder_ignores_the_backend():
    assert load_text_encoder("hash:16", "cpu", backend="onnx-int8").dim == 16
