"""The ONNX image backend: same embeddings as torch, encoders built from a cached export
alone, and an aligned model's colour head carried with its export."""

from __future__ import annotations

import numpy as np
import pytest
from toy_catalog import IMAGE_SPEC, write_square

from retrieval_tagger.encoders.onnx import cache as onnx_cache
from retrieval_tagger.encoders.onnx import image as onnx_image
from retrieval_tagger.encoders.registry import load_image_encoder


@pytest.fixture()
def photos(tmp_path):
    paths = []
    for i, rgb in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 240, 240)]):
        write_square(tmp_path / f"{i}.png", rgb, marker=i)
        paths.append(str(tmp_path / f"{i}.png"))
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    return paths + [str(tmp_path / "bad.jpg")]


def test_onnx_tower_gives_the_torch_embeddings(photos, private_cache):
    torch_enc = load_image_encoder(IMAGE_SPEC, "cpu", backend="torch")
    onnx_enc = load_image_encoder(IMAGE_SPEC, "cpu", backend="onnx")
    assert (torch_enc.backend, onnx_enc.backend) == ("torch", "onnx")
    assert onnx_enc.checksum == torch_enc.checksum
    a, ok_a = onnx_enc.encode_images(photos)
    b, ok_b = torch_enc.encode_images(photos)
    assert list(ok_a) == list(ok_b) == [True] * 4 + [False]
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert not a[-1].any()
    folder, manifest = onnx_cache.find("onnx-image", onnx_image.export_key(onnx_enc.checksum, onnx_enc.size),
                                       onnx_image.FORMAT, onnx_image.FORMAT_VERSION)
    assert folder.parent.parent == private_cache
    assert manifest["size"] == onnx_enc.size and manifest["dim"] == onnx_enc.dim


def test_encoder_from_a_cached_export_gives_the_torch_embeddings(photos, private_cache, monkeypatch):
    """With the index's record of the weights, photos are encoded from the cached export
    alone (numpy preprocessing, threads decoding): the torch encoder's embeddings."""
    from retrieval_tagger.encoders import clip_models

    torch_enc = load_image_encoder(IMAGE_SPEC, "cpu", backend="torch")
    load_image_encoder(IMAGE_SPEC, "cpu", backend="onnx")  # exports, unless the cache holds the export
    recorded = {"spec": IMAGE_SPEC, "checksum": torch_enc.checksum, "dim": torch_enc.dim, "image_size": torch_enc.size}

    def no_model(*args):
        raise AssertionError("the model was built although the cache holds its export")

    monkeypatch.setattr(clip_models, "build_open_clip", no_model)
    cached = load_image_encoder(IMAGE_SPEC, "cpu", backend="auto", recorded=recorded)
    assert isinstance(cached, onnx_image.OnnxImageEncoder)
    assert (cached.spec, cached.checksum, cached.dim, cached.size, cached.backend) == (IMAGE_SPEC, torch_enc.checksum, 32, 32, "onnx")
    assert (cached.mean, cached.std, cached.text_space) == (torch_enc.mean, torch_enc.std, True)
    got, hists, ok = cached.encode_images_and_colours(photos)
    want, want_hists, want_ok = torch_enc.encode_images_and_colours(photos)
    assert ok.tolist() == want_ok.tolist() == [True] * 4 + [False]
    np.testing.assert_array_equal(hists, want_hists)
    assert np.abs(got - want).max() <= 1e-5 and not got[-1].any()
    many = photos * 20  # enough for decoding threads
    threaded, threaded_ok = cached.encode_images(many, batch_size=8, workers=2)
    np.testing.assert_allclose(threaded, np.tile(got, (20, 1)), atol=1e-6)
    assert threaded_ok.tolist() == ok.tolist() * 20
    assert cached.encode_images([])[0].shape == (0, 32)
    with pytest.raises(AssertionError, match="was built"):  # other weights: not in the cache
        load_image_encoder(IMAGE_SPEC, "cpu", backend="onnx", recorded={**recorded, "image_size": 64})
    monkeypatch.undo()
    monkeypatch.setenv("RTAG_CACHE_DIR", str(private_cache))
    # texts go through the model's text tower, built on first use
    np.testing.assert_allclose(cached.encode(["red shirt", "blue jeans"]), torch_enc.encode(["red shirt", "blue jeans"]), atol=1e-6)


def test_colour_head_travels_with_the_export(photos, tmp_path, monkeypatch):
    """An aligned model's colour head is saved with its export and applied in numpy."""
    import torch

    from retrieval_tagger.encoders import colour

    monkeypatch.setenv("RTAG_CACHE_DIR", str(tmp_path / "cache"))
    encoder = load_image_encoder(IMAGE_SPEC, "cpu", backend="torch")
    encoder.colour_head = torch.randn(encoder.dim, colour.DIM, generator=torch.Generator().manual_seed(0))
    encoder.checksum = "c" * 64  # weights of their own, as an aligned model's checksum covers its head
    want, _ = encoder.encode_images(photos)
    encoder.use_onnx()
    np.testing.assert_allclose(encoder.encode_images(photos)[0], want, atol=1e-5)
    cached = onnx_image.OnnxImageEncoder.from_cache(IMAGE_SPEC, "c" * 64, encoder.size)
    np.testing.assert_allclose(cached.colour_head, encoder.colour_head.numpy())
    assert np.abs(cached.encode_images(photos)[0] - want).max() <= 1e-5
    with pytest.raises(RuntimeError, match="no text tower"):
        cached.encode(["red shirt"])
