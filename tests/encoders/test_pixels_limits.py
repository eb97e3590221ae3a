"""Decoding at a bounded cost: huge photos are refused before a pixel is decoded (with a
warning naming them), JPEGs decode at a reduced scale so the limit applies to what is
decoded, and photos under the limit are shrunk right after decoding."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from retrieval_tagger.encoders import colour, pixels
from retrieval_tagger.encoders.pixels import (
    REDUCING_GAP,
    ImageTooLargeError,
    decode_image,
    load_rgb,
)
from retrieval_tagger.errors import EncoderError

SIDE = 6000  # 36 MP: under the default limit, far over the model's input


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> dict:
    """A 6000 x 6000 product photo (red box on white) as PNG and JPEG."""
    folder = tmp_path_factory.mktemp("large")
    img = Image.new("RGB", (SIDE, SIDE), (255, 255, 255))
    ImageDraw.Draw(img).rectangle((1500, 1000, 4500, 5000), fill=(200, 20, 20))
    paths = {"png": folder / "large.png", "jpg": folder / "large.jpg"}
    img.save(paths["png"], compress_level=1)
    img.save(paths["jpg"], quality=85)
    return {kind: str(path) for kind, path in paths.items()}


def test_a_large_png_is_decoded_shrunk(large):
    img = load_rgb(large["png"], 64)
    assert img.mode == "RGB"
    # shrunk by a whole factor to between REDUCING_GAP and 2 * REDUCING_GAP times the model's size
    assert REDUCING_GAP * 64 <= max(img.size) < 2 * REDUCING_GAP * 64
    assert img.getpixel((img.width // 2, img.height // 2))[0] > 150  # the red box is there
    assert img.getpixel((2, 2)) == (255, 255, 255)


def test_a_large_jpeg_decodes_reduced_so_the_limit_counts_decoded_pixels(large):
    # 36 MP in the file, but drafted at 1/8 scale: 750 x 750 decoded, under a 1 MP limit
    img = load_rgb(large["jpg"], 224, max_pixels=1_000_000)
    assert max(img.size) <= SIDE // 8


def test_a_png_over_the_limit_is_refused_before_decoding(large, monkeypatch):
    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageTooLargeError, match=r"is 6000x6000 pixels, over the limit of 10,000,000 \(RTAG_MAX_IMAGE_PIXELS\)"):
        load_rgb(large["png"], 64, max_pixels=10_000_000)


def test_a_refused_photo_is_undecoded_with_a_warning_naming_it(large, caplog):
    with caplog.at_level(logging.WARNING, logger="rtag"):
        pixels_out, hist, ok = decode_image(large["png"], 32, max_pixels=10_000_000)
    assert not ok
    assert pixels_out.shape == (3, 32, 32) and not pixels_out.any()
    assert hist.shape == (colour.DIM,) and not hist.any()
    assert [r.getMessage() for r in caplog.records] == [
        f"image {large['png']} is 6000x6000 pixels, over the limit of 10,000,000 (RTAG_MAX_IMAGE_PIXELS): "
        "not decoded; shrink the photo or raise the limit"
    ]


def test_batches_read_the_limit_from_the_environment(large, tmp_path, monkeypatch, caplog):
    small = tmp_path / "small.png"
    Image.new("RGB", (40, 30), (0, 0, 200)).save(small)
    monkeypatch.setenv("RTAG_MAX_IMAGE_PIXELS", "20_000_000")
    with caplog.at_level(logging.WARNING, logger="rtag"):
        (batch, hists, ok), = list(pixels.decoded_batches([str(small), large["png"]], 32, batch_size=8, workers=0))
    assert ok.tolist() == [True, False]
    assert hists[0].any() and batch[0].any()
    assert "20,000,000" in caplog.text and large["png"] in caplog.text


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1e6"])
def test_a_bad_limit_setting_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv("RTAG_MAX_IMAGE_PIXELS", value)
    with pytest.raises(EncoderError, match="RTAG_MAX_IMAGE_PIXELS must be a whole number of pixels above 0"):
        pixels.max_image_pixels()


def test_the_default_limit_refuses_12000_square_and_keeps_a_48_mp_frame(monkeypatch):
    monkeypatch.delenv("RTAG_MAX_IMAGE_PIXELS", raising=False)
    assert 8000 * 6000 <= pixels.max_image_pixels() < 12000 * 12000


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_shrinking_keeps_transparency_white(tmp_path, mode):
    # left half opaque blue, right half transparent (stored as black)
    path = tmp_path / f"{mode}.png"
    if mode == "RGBA":
        img = Image.new("RGBA", (1200, 600), (0, 0, 0, 0))
        ImageDraw.Draw(img).rectangle((0, 0, 599, 599), fill=(0, 0, 255, 255))
        img.save(path)
    else:  # a palette whose entry 0 (black) is transparent
        img = Image.new("P", (1200, 600), 0)
        img.putpalette([0, 0, 0, 0, 0, 255])
        ImageDraw.Draw(img).rectangle((0, 0, 599, 599), fill=1)
        img.save(path, transparency=0)
    out = load_rgb(str(path), 32)
    assert max(out.size) < 2 * REDUCING_GAP * 32
    assert out.getpixel((out.width - 3, out.height // 2)) == (255, 255, 255)
    r, g, b = out.getpixel((3, out.height // 2))
    assert b > 200 and r < 40 and g < 40


def test_small_photos_decode_as_before(tmp_path):
    # under REDUCING_GAP times the model's size nothing is shrunk: the colour histogram is
    # that of every pixel
    rng = np.random.default_rng(0)
    pixels_in = rng.integers(0, 256, (90, 60, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(pixels_in).save(path)
    img = load_rgb(str(path), 32)
    assert img.size == (60, 90)
    np.testing.assert_array_equal(np.asarray(img), pixels_in)
    np.testing.assert_array_equal(colour.colour_histogram(img), colour.colour_histogram(Image.fromarray(pixels_in)))


PEAK = """
import resource, sys
from retrieval_tagger.encoders.pixels import decode_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert decode_image(sys.argv[1], 224)[2]
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow
def test_decoding_a_36_mp_png_takes_little_more_than_its_pixels(large):
    # the RGB pixels alone are 108 MB; the code before the limit peaked near 1 GB here
    # (a copy per step and int64 colour codes of every pixel)
    proc = subprocess.run([sys.executable, "-c", PEAK, large["png"]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) < 250, f"decoding peaked {proc.stdout.strip()} MB above the imports"
