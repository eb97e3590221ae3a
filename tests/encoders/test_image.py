"""The fast test encoders themselves (hash:DIM and the tiny open_clip model), the table of
spec forms, and the device resolved without torch where no GPU can be."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import IMAGE_SPEC, write_square
from PIL import Image

from retrieval_tagger.encoders import base
from retrieval_tagger.encoders.base import l2_normalise, show_progress
from retrieval_tagger.encoders.pixels import load_rgb, pad_square
from retrieval_tagger.encoders.registry import (
    load_image_encoder,
    load_text_encoder,
    spec_form,
)
from retrieval_tagger.errors import EncoderError


def load_square(path, size):
    return pad_square(load_rgb(path, size), size)


def test_hashing_encoder_is_deterministic_and_normalised():
    enc = load_text_encoder("hash:64")
    a = enc.encode(["red cotton shirt", "red cotton shirt", "blue denim jeans", ""])
    assert a.shape == (4, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a[0], a[1])
    np.testing.assert_allclose(np.linalg.norm(a[:3], axis=1), 1.0, rtol=1e-6)
    assert np.all(a[3] == 0)  # nothing to hash: a zero vector, not NaN
    assert a[0] @ a[2] < a[0] @ enc.encode(["red shirt"])[0]
    assert enc.spec == "hash:64" and enc.dim == 64
    assert enc.checksum == load_text_encoder("hash:64").checksum != load_text_encoder("hash:32").checksum


def test_hashing_encoder_ignores_case():
    enc = load_text_encoder("hash:64")
    np.testing.assert_array_equal(enc.encode(["RED Shirt"]), enc.encode(["red shirt"]))


def test_l2_normalise_keeps_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32 and out.flags.c_contiguous


def test_progress_bars_only_for_long_jobs_and_never_when_switched_off(monkeypatch):
    monkeypatch.delenv("RTAG_NO_PROGRESS", raising=False)
    assert show_progress(10, None) is False
    assert show_progress(1000, None) is True
    assert show_progress(10, True) is True
    monkeypatch.setenv("RTAG_NO_PROGRESS", "1")
    assert show_progress(1000, None) is False


def test_load_square_pads_with_white(tmp_path):
    path = tmp_path / "tall.png"
    Image.new("RGB", (10, 20), (200, 0, 0)).save(path)
    img = load_square(str(path), 32)
    assert img.size == (32, 32)
    assert img.getpixel((0, 0)) == (255, 255, 255)  # padding at the sides
    r, g, b = img.getpixel((16, 16))
    assert r > 150 and g < 50 and b < 50  # the product in the middle


def test_load_square_converts_greyscale_and_alpha(tmp_path):
    grey, rgba = tmp_path / "grey.png", tmp_path / "rgba.png"
    Image.new("L", (8, 8), 100).save(grey)
    Image.new("RGBA", (8, 8), (0, 0, 255, 128)).save(rgba)
    assert load_square(str(grey), 16).mode == "RGB"
    assert load_square(str(rgba), 16).mode == "RGB"


@pytest.fixture(scope="module")
def tiny():
    return load_image_encoder(IMAGE_SPEC, device="cpu")


def test_tiny_random_model_is_reproducible(tiny):
    # the index records the weights' checksum, so "random" weights must be the same each load
    again = load_image_encoder(IMAGE_SPEC, device="cpu")
    assert again.checksum == tiny.checksum
    assert (tiny.dim, tiny.size) == (32, 32)


def test_encode_images_flags_bad_files_with_zero_rows(tiny, tmp_path):
    good = write_square(tmp_path / "good.png", (200, 30, 30))
    other = write_square(tmp_path / "other.png", (30, 30, 200), marker=3)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    paths = [str(good), str(bad), str(tmp_path / "missing.png"), str(other)]

    vectors, ok = tiny.encode_images(paths, batch_size=2)

    assert ok.tolist() == [True, False, False, True]
    assert vectors.shape == (4, 32)
    assert np.all(vectors[[1, 2]] == 0)
    np.testing.assert_allclose(np.linalg.norm(vectors[[0, 3]], axis=1), 1.0, rtol=1e-5)
    again, _ = tiny.encode_images([str(good)])
    np.testing.assert_allclose(again[0], vectors[0], atol=1e-5)  # batch size does not matter


def test_encode_images_in_worker_processes_matches_in_process(tiny, tmp_path):
    paths = [str(write_square(tmp_path / f"{i}.png", (40 * i, 100, 200 - 40 * i), marker=i)) for i in range(4)]
    (tmp_path / "bad.png").write_bytes(b"broken")
    paths.append(str(tmp_path / "bad.png"))
    inline, ok_inline = tiny.encode_images(paths, workers=0)
    pooled, ok_pooled = tiny.encode_images(paths, workers=1)
    assert ok_pooled.tolist() == ok_inline.tolist() == [True, True, True, True, False]
    np.testing.assert_allclose(pooled, inline, atol=1e-6)


def test_encode_images_of_nothing(tiny):
    vectors, ok = tiny.encode_images([])
    assert vectors.shape == (0, 32) and ok.shape == (0,)


def test_tiny_text_tower(tiny):
    vectors = tiny.encode(["red shirt", "blue jeans", "red shirt"])
    assert vectors.shape == (3, 32)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert tiny.encode([]).shape == (0, 32)


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


def test_device_is_resolved_without_torch_where_no_gpu_can_be(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not base.gpu_possible()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert not base.gpu_possible()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(base.sys, "platform", "linux")
    monkeypatch.setattr(base.os.path, "exists", lambda path: path == "/proc/driver/nvidia")
    assert base.gpu_possible()
    monkeypatch.setattr(base.os.path, "exists", lambda path: False)
    assert not base.gpu_possible()
    assert base.pick_device("cuda:1") == "cuda:1"
    probe = "import sys; from retrieval_tagger.encoders.base import pick_device; print(pick_device(), 'torch' in sys.modules)"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True).stdout.split() == ["cpu", "False"]
