"""The tiny open_clip image encoder (rtag-tiny:random): reproducible weights, bad files
flagged with zero rows, worker processes, its text tower and the pixels it feeds the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toy_catalog import IMAGE_SPEC, catalog_rows, write_square

from retrieval_tagger.encoders import image as image_mod
from retrieval_tagger.encoders.registry import (
    load_image_encoder,
)


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


def test_pixels_are_normalised_on_the_device_as_before(catalog_dir):
    encoder = load_image_encoder(IMAGE_SPEC, device="cpu")
    paths = [str(catalog_dir / row["image"]) for row in catalog_rows()[:3]]
    (_, pixels, _, flags), = list(encoder.batches(paths, batch_size=8, workers=0))
    raw = torch.stack([image_mod.ImageFiles(paths, encoder.size)[i][0] for i in range(3)])
    assert raw.dtype == torch.uint8 and flags.all()
    mean, std = torch.tensor(encoder.mean).view(1, 3, 1, 1), torch.tensor(encoder.std).view(1, 3, 1, 1)
    assert torch.equal(pixels, (raw.float() / 255.0 - mean) / std)
    assert pixels.is_contiguous(memory_format=torch.channels_last if encoder.backend == "torch" else torch.contiguous_format)
