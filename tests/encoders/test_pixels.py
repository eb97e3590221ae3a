"""Decoding and batching photos without torch: padding to a square, transparent
backgrounds, normalisation, colour histograms beside the vectors, and worker and batch
sizes per device."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from toy_catalog import COLOURS, write_square

from retrieval_tagger.encoders import colour
from retrieval_tagger.encoders import pixels as pixels_mod
from retrieval_tagger.encoders.colour import colour_histogram
from retrieval_tagger.encoders.pixels import load_rgb, pad_square


def bin_of(rgb) -> int:
    """The histogram bin of one colour: where a square of that colour puts all its mass."""
    return int(np.argmax(colour_histogram(Image.new("RGB", (2, 2), rgb))))


def load_square(path, size):
    return pad_square(load_rgb(path, size), size)


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


def test_transparent_background_is_read_as_white(tmp_path):
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))  # transparent pixels stored as black
    img.paste((200, 10, 10, 255), (5, 5, 15, 15))
    path = tmp_path / "cutout.png"
    img.save(path)
    rgb = load_rgb(str(path), 20)
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    hist = colour_histogram(rgb)
    assert hist[bin_of((200, 10, 10))] == pytest.approx(1.0)


def test_encoder_returns_the_histograms_of_the_decoded_files(encoders, tmp_path):
    _, image_enc = encoders
    red = write_square(tmp_path / "red.png", COLOURS["red"], marker=1)
    blue = write_square(tmp_path / "blue.png", COLOURS["blue"], marker=3)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    paths = [str(red), str(broken), str(blue), str(tmp_path / "missing.png")]

    vectors, hists, ok = image_enc.encode_images_and_colours(paths, batch_size=3, workers=0)

    assert ok.tolist() == [True, False, True, False]
    assert vectors.shape == (4, image_enc.dim) and hists.shape == (4, colour.DIM)
    for row in (0, 2):
        np.testing.assert_allclose(hists[row], colour_histogram(load_rgb(paths[row], image_enc.size)), rtol=1e-6)
    assert hists[0, bin_of(COLOURS["red"])] > 0.9 and hists[2, bin_of(COLOURS["blue"])] > 0.9
    assert np.all(hists[[1, 3]] == 0) and np.all(vectors[[1, 3]] == 0)
    alone, _ = image_enc.encode_images([str(red)])
    np.testing.assert_allclose(alone[0], vectors[0], atol=1e-5)  # same vectors as encode_images


def test_encoder_of_no_images_returns_empty_histograms(encoders):
    _, image_enc = encoders
    vectors, hists, ok = image_enc.encode_images_and_colours([])
    assert vectors.shape == (0, image_enc.dim) and hists.shape == (0, colour.DIM) and ok.shape == (0,)


def test_pixels_are_normalised_in_numpy_as_in_torch():
    import torch

    from retrieval_tagger.encoders.pixels import normalise

    raw = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    view = (1, 3, 1, 1)
    want = torch.from_numpy(raw).float().div_(255.0).sub_(torch.tensor(mean).view(view)).div_(torch.tensor(std).view(view))
    np.testing.assert_array_equal(normalise(raw, mean, std), want.numpy())


@pytest.mark.parametrize("cores, device, n, expected", [
    (16, "cpu", 1000, 4),  # the model needs the cores too
    (16, "cuda", 1000, 15),  # all but the core that feeds the GPU
    (16, "cuda:0", 1000, 15),
    (2, "cpu", 1000, 1),
    (2, "cuda", 1000, 1),
    (16, "cuda", 10, 0),  # too few images to pay for starting workers
])
def test_default_workers(monkeypatch, cores, device, n, expected):
    monkeypatch.setattr(pixels_mod, "cpu_cores", lambda: cores)
    assert pixels_mod.default_workers(n, device) == expected


def test_batch_sizes_follow_the_device():
    # on a CPU one size whatever the images, their number or the workers
    assert pixels_mod.default_batch_size("cpu", 128, 100_000, 4) == pixels_mod.default_batch_size("cpu", 224, 10, 1)
    assert pixels_mod.default_batch_size("cuda", 224, 100_000, 15) == pixels_mod.GPU_BATCH_AT_224
    assert pixels_mod.default_batch_size("cuda", 128, 100_000, 15) == pixels_mod.GPU_MAX_BATCH  # small images: more per batch
    assert pixels_mod.default_batch_size("cuda", 128, 2048, 15) == 137  # every worker gets a batch
    assert pixels_mod.default_batch_size("cuda", 128, 20, 15) == 16
