"""The ONNX image backend: same embeddings as torch, cached export, backend choice."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import IMAGE_SPEC, write_square

from retrieval_tagger.encoders.onnx import cache as onnx_cache
from retrieval_tagger.encoders.onnx import image as onnx_image
from retrieval_tagger.encoders.registry import image_backend, load_image_encoder
from retrieval_tagger.errors import EncoderError


@pytest.fixture()
def photos(tmp_path):
    paths = []
    for i, rgb in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 240, 240)]):
        write_square(tmp_path / f"{i}.png", rgb, marker=i)
        paths.append(str(tmp_path / f"{i}.png"))
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    return paths + [str(tmp_path / "bad.jpg")]


def test_onnx_tower_gives_the_torch_embeddings(photos, tmp_path, monkeypatch):
    monkeypatch.setenv("RTAG_CACHE_DIR", str(tmp_path / "cache"))
    torch_enc = load_image_encoder(IMAGE_SPEC, "cpu", backend="torch")
    onnx_enc = load_image_encoder(IMAGE_SPEC, "cpu", backend="onnx")
    assert (torch_enc.backend, onnx_enc.backend) == ("torch", "onnx")
    assert onnx_enc.checksum == torch_enc.checksum
    a, ok_a = onnx_enc.encode_images(photos)
    b, ok_b = torch_enc.encode_images(photos)
    assert list(ok_a) == list(ok_b) == [True] * 4 + [False]
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert not a[-1].any()
    (folder,) = (tmp_path / "cache" / "onnx-image").iterdir()
    manifest = onnx_cache.read_manifest(folder, onnx_image.FORMAT, onnx_image.FORMAT_VERSION)
    assert manifest["size"] == onnx_enc.size and manifest["dim"] == onnx_enc.dim


def test_image_backend_choice(monkeypatch):
    monkeypatch.delenv("RTAG_IMAGE_BACKEND", raising=False)
    assert image_backend(None, "cpu") == "onnx"
    assert image_backend(None, "cuda") == "torch"
    monkeypatch.setenv("RTAG_IMAGE_BACKEND", "torch")
    assert image_backend(None, "cpu") == "torch"
    with pytest.raises(EncoderError, match="unknown image backend 'tensorrt': choose one of auto, torch, onnx"):
        image_backend("tensorrt", "cpu")
    with pytest.raises(EncoderError, match="runs on the CPU"):
        image_backend("onnx", "cuda:0")
