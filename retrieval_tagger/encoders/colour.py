"""Colour descriptor of a product photo: a 4x4x4 RGB histogram of its non-white pixels.

ImageNet features are trained to ignore colour, yet colour is a facet of most
catalogs. The histogram skips the near-white studio background and is square-rooted
(Hellinger), so it has unit length and inner products compare distributions.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

BINS = 4
DIM = BINS**3
WHITE = 235  # a pixel with all channels at or above this is background


def colour_histogram(img: Image.Image) -> np.ndarray:
    """A ``DIM``-long float32 unit vector describing the colours of an RGB image."""
    pixels = np.asarray(img.convert("RGB"), dtype=np.uint8).reshape(-1, 3)
    foreground = pixels[(pixels < WHITE).any(axis=1)]
    if len(foreground) == 0:  # an all-white product is white
        foreground = pixels
    # codes stay uint8 (DIM = 64 fits): the pixels' memory once more, not eight times (int64)
    q = foreground // np.uint8(256 // BINS)
    codes = (q[:, 0] * np.uint8(BINS) + q[:, 1]) * np.uint8(BINS) + q[:, 2]
    hist = np.bincount(codes, minlength=DIM).astype(np.float32)
    return np.sqrt(hist / hist.sum())


def bin_shares(hists: np.ndarray) -> np.ndarray:
    """Each bin's share of the product's pixels, from colour histograms (the square of the
    Hellinger vector; rows of undecoded photos stay zero)."""
    return np.square(np.asarray(hists, dtype=np.float32))
