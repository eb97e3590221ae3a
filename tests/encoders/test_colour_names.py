"""Colour names of photos: Lab coordinates, the names of a photo's pixels, colour groups
of a vocabulary and the share of a photo named as each colour tag."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from retrieval_tagger.encoders import colour, colour_names
from retrieval_tagger.encoders.colour import colour_histogram
from retrieval_tagger.encoders.hashing import HashingTextEncoder
from retrieval_tagger.tags import TagSet


def photo(rgb, background=(255, 255, 255)) -> np.ndarray:
    """The colour histogram of a square of ``rgb`` on a studio background."""
    img = Image.new("RGB", (40, 40), background)
    img.paste(rgb, (10, 10, 30, 30))
    return colour_histogram(img)


def facets(*tags: str) -> TagSet:
    return TagSet(list(tags), [1] * len(tags))


@pytest.mark.parametrize(("rgb", "lab"), [
    # sRGB under the ICC connection space's D50 white (Bradford adaptation), the standard values
    ((255, 0, 0), (54.29, 80.81, 69.89)),
    ((255, 255, 0), (97.61, -15.75, 93.39)),
    ((0, 128, 0), (46.28, -47.55, 48.59)),
    ((255, 255, 255), (100.0, 0.0, 0.0)),
    ((0, 0, 0), (0.0, 0.0, 0.0)),
])
def test_lab_of_known_colours(rgb, lab):
    np.testing.assert_allclose(colour_names.to_lab(np.array([rgb]))[0], lab, atol=1.5)


def test_greys_have_no_hue():
    lab = colour_names.to_lab(np.array([[v, v, v] for v in (30, 128, 200)]))
    assert np.abs(lab[:, 1:]).max() <= 1.0 and np.all(np.diff(lab[:, 0]) > 20)


def test_the_table_holds_css4_and_xkcd_colours():
    names, lab = colour_names.colour_table()
    assert len(names) == len(lab) > 1000 and {"red", "navy blue", "black", "rebeccapurple"} <= set(names)
    assert lab.dtype == np.float32 and lab.shape[1] == 3


def test_red_square_on_white_is_named_red():
    (top, share), *rest = colour_names.dominant_names(photo((220, 20, 30)), top=3)
    assert top == "red" and share > 0.5
    assert all(s <= share for _, s in rest)


def test_name_shares_are_a_distribution_over_the_product_pixels():
    hists = np.stack([photo((220, 20, 30)), photo((30, 60, 220)), np.zeros(colour.DIM, np.float32)])
    shares = colour_names.name_shares(hists)
    assert shares.shape == (3, len(colour_names.colour_table()[0]))
    np.testing.assert_allclose(shares.sum(axis=1), [1.0, 1.0, 0.0], atol=1e-5)  # an undecoded photo names nothing
    np.testing.assert_array_equal(colour_names.name_shares(hists[1:2]), shares[1:2])  # alone as in a batch


@pytest.mark.parametrize(("value", "is_colour"), [
    ("Navy Blue", True), ("red", True), ("Coffee Brown", True), ("Off White", True),
    ("Grey Melange", False), ("Multi", False), ("Shirts", False), ("", False),
])
def test_colour_names_are_recognised(value, is_colour):
    assert colour_names.is_colour_name(value) is is_colour


def test_only_groups_of_mostly_colour_names_are_colour_groups():
    view = facets("colour:Red", "colour:Navy Blue", "colour:Multi", "article:Shirts", "article:Jeans", "gold", "summer", "cotton")
    (group,) = colour_names.colour_groups(view)
    assert sorted(view.tags[c] for c in group) == ["colour:Multi", "colour:Navy Blue", "colour:Red"]
    assert colour_names.tag_bins(HashingTextEncoder(64).encode, facets("article:Shirts", "article:Jeans")) is None


def test_a_vocabulary_with_navy_blue_and_black_separates_their_photos():
    view = facets("colour:Navy Blue", "colour:Black", "article:Shirts")
    bins = colour_names.tag_bins(HashingTextEncoder(256).encode, view)
    assert bins.shape == (3, colour.DIM) and not bins[2].any()  # not a colour tag
    np.testing.assert_allclose(bins[:2].sum(axis=0), 1.0, atol=1e-5)  # every cell goes to one of the two
    navy, black = (colour.bin_shares(photo(rgb)) @ bins.T for rgb in ((10, 20, 120), (12, 12, 12)))
    assert navy[0] > 0.5 > navy[1] and black[1] > 0.5 > black[0]


def test_a_colour_no_name_stands_for_scores_nothing():
    bins = colour_names.tag_bins(HashingTextEncoder(256).encode, facets("colour:Red", "colour:Green", "colour:Multi"))
    assert bins[:2].any(axis=1).all() and not bins[2].any()


def test_the_table_is_read_without_importing_matplotlib():
    import subprocess
    import sys

    probe = """
import sys
import numpy as np
from retrieval_tagger.encoders import colour_names
names, lab = colour_names.colour_table()
alone = "matplotlib" in sys.modules
import matplotlib.colors
colour_names.colour_table.cache_clear()
again, lab_again = colour_names.colour_table()
print(alone, names == again and np.array_equal(lab, lab_again))
"""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]  # no matplotlib import; the same table through matplotlib.colors
