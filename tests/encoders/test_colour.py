"""Colour histograms: where the mass goes, their norm, and images of any mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from toy_catalog import COLOURS

from retrieval_tagger.encoders import colour
from retrieval_tagger.encoders.colour import colour_histogram


def bin_of(rgb) -> int:
    """The histogram bin of one colour, worked out independently of colour.py."""
    r, g, b = (c * colour.BINS // 256 for c in rgb)
    return (r * colour.BINS + g) * colour.BINS + b


def test_red_square_on_white_puts_all_mass_in_the_red_bin():
    img = Image.new("RGB", (40, 30), (255, 255, 255))
    img.paste((220, 20, 30), (10, 5, 25, 20))
    hist = colour_histogram(img)
    assert hist.shape == (colour.DIM,) and hist.dtype == np.float32
    expected = np.zeros(colour.DIM, np.float32)
    expected[bin_of((220, 20, 30))] = 1.0  # the white background counts for nothing
    np.testing.assert_array_equal(hist, expected)


def test_histogram_is_the_square_root_of_the_colour_shares():
    img = Image.new("RGB", (40, 40), (250, 250, 250))  # near-white background
    img.paste((220, 20, 30), (0, 0, 30, 10))  # 300 red pixels
    img.paste((30, 60, 220), (0, 10, 10, 20))  # 100 blue pixels
    hist = colour_histogram(img)
    expected = np.zeros(colour.DIM)
    expected[bin_of((220, 20, 30))] = math.sqrt(0.75)
    expected[bin_of((30, 60, 220))] = math.sqrt(0.25)
    np.testing.assert_allclose(hist, expected, rtol=1e-6)
    assert np.linalg.norm(hist) == pytest.approx(1.0)


def test_all_white_image_is_a_white_unit_vector():
    hist = colour_histogram(Image.new("RGB", (16, 16), COLOURS["white"]))
    assert np.all(np.isfinite(hist))
    assert np.flatnonzero(hist).tolist() == [bin_of(COLOURS["white"])]
    assert np.linalg.norm(hist) == pytest.approx(1.0)


def test_noisy_image_has_unit_norm():
    pixels = np.random.default_rng(0).integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    hist = colour_histogram(Image.fromarray(pixels))
    assert np.linalg.norm(hist) == pytest.approx(1.0, rel=1e-5)
    assert np.count_nonzero(hist) > 30  # many colours, many bins


@pytest.mark.parametrize(
    "img, rgb",
    [
        (Image.new("L", (8, 8), 100), (100, 100, 100)),
        (Image.new("RGBA", (8, 8), (0, 0, 255, 255)), (0, 0, 255)),
        (Image.new("P", (8, 8), 0), (0, 0, 0)),
    ],
    ids=["greyscale", "rgba", "palette"],
)
def test_other_image_modes_are_read_as_rgb(img, rgb):
    hist = colour_histogram(img)
    assert np.flatnonzero(hist).tolist() == [bin_of(rgb)]
    assert np.linalg.norm(hist) == pytest.approx(1.0)


def test_bin_shares_are_the_pixel_shares_per_bin():
    img = Image.new("RGB", (40, 40), (250, 250, 250))
    img.paste((220, 20, 30), (0, 0, 30, 10))  # 300 red pixels
    img.paste((30, 60, 220), (0, 10, 10, 20))  # 100 blue pixels
    shares = colour.bin_shares(np.stack([colour_histogram(img), np.zeros(colour.DIM, np.float32)]))
    assert shares[0, bin_of((220, 20, 30))] == pytest.approx(0.75) and shares[0, bin_of((30, 60, 220))] == pytest.approx(0.25)
    assert shares[0].sum() == pytest.approx(1.0) and not shares[1].any()
