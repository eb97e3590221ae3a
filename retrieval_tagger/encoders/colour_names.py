"""Colour names of a product photo, and the colour tags of a vocabulary they stand for:
zero-shot colour, without labels.

ImageNet features carry little colour, so the colour is read from the photo's colour
histogram (colour.py: the product's own pixels, the white studio background left out,
decoded once with the photo), in two steps:

1. **Photo -> colour names.** A histogram bin is a cube of RGB colours; each of its
   ``BIN_CELLS ** 3`` cells takes the name of the nearest colour of a named-colour table
   (matplotlib's XKCD and CSS4 colours, 1,097 names) in CIE Lab (LittleCMS through
   Pillow, already a dependency). A bin is then a distribution over names, and a
   product's colour names are its pixel shares per bin times that (:func:`name_shares`,
   :func:`dominant_names`).
   Photos are not paint chips: studio light lifts black fabric to charcoal and greys
   white fabric, and cloth photographs duller than its name. So before naming, a cell's
   lightness is spread around mid-grey by ``LIGHTNESS_CONTRAST`` and its chroma raised by
   ``CHROMA_GAIN`` (chosen on a fashion catalog sample, see benchmarks/README.md).
2. **Colour names -> tags.** The colour tags of a vocabulary are the values of its groups
   of competing tags (a facet, or all free tags) that are mostly colour names
   (:func:`colour_groups`). Each colour-table name stands for the tag of its group whose
   name is closest in text (cosine of the two embeddings, at least ``MATCH``); a cell
   belongs to the tag of the nearest standing name. :func:`tag_bins` gives each colour tag
   the share of every bin's cells that are its own, so a product's score for a tag, the
   share of its pixels named as that tag, is one (products x bins) @ (bins x tags)
   product: cheap, and each product's scores independent of its batch-mates.

Naming 32-level cells of the decoded pixels instead of the 64 histogram bins was measured
too (fashion catalog sample): 0.486 against 0.473 baseColour accuracy alone, 0.783 against
0.808 with the title; the bins need nothing more carried from the decoder or the index.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from retrieval_tagger.encoders import colour
from retrieval_tagger.errors import EncoderError
from retrieval_tagger.tags import TagSet, tag_groups

BIN_CELLS = 8  # cells per channel in a histogram bin: 512 per bin
LIGHTNESS_CONTRAST = 2.5  # L* spread around 50 before naming
CHROMA_GAIN = 1.6  # a* and b* scaled before naming
MATCH = 0.6  # cosine from which a colour name stands for a tag
COLOUR_GROUP_SHARE = 0.5  # a group is a colour group when at least this share of its values are colour names


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (float32, n x 3) of 8-bit sRGB colours (n x 3), by LittleCMS's sRGB to
    Lab transform through Pillow's ImageCms: Lab of the ICC connection space (D50 white,
    adapted from sRGB's D65), L* in steps of 100/255, a* and b* in whole steps."""
    from PIL import Image, ImageCms

    rows = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).reshape(1, -1, 3))
    lab = np.asarray(ImageCms.applyTransform(Image.fromarray(rows, "RGB"), _transform()), dtype=np.uint8).reshape(-1, 3)
    out = np.empty(lab.shape, np.float32)
    out[:, 0] = lab[:, 0] * np.float32(100.0 / 255.0)
    out[:, 1:] = lab[:, 1:].view(np.int8)  # Pillow's LAB mode keeps a* and b* as signed bytes
    return out


@lru_cache(maxsize=1)
def _transform():
    from PIL import ImageCms

    return ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")


def _matplotlib_tables() -> tuple[dict, dict]:
    """matplotlib's XKCD and CSS4 tables (name -> "#rrggbb"). Where matplotlib is not
    imported yet they are read from its data module alone: importing matplotlib costs
    about 0.3 s and creates ~/.config/matplotlib, and tagging writes nothing outside
    rtag's cache."""
    if "matplotlib" not in sys.modules:
        spec = importlib.util.find_spec("matplotlib")  # finds the package without running it
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        data = Path(folders[0]) / "_color_data.py" if folders else None
        if data is not None and data.is_file():
            module_spec = importlib.util.spec_from_file_location("_rtag_matplotlib_colour_data", data)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)  # dictionaries only
            return module.XKCD_COLORS, module.CSS4_COLORS
    try:
        from matplotlib import colors
    except ImportError as exc:  # a main dependency; only a broken install lacks it
        raise EncoderError("colour naming needs matplotlib's colour tables: pip install matplotlib") from exc
    return colors.XKCD_COLORS, colors.CSS4_COLORS


@lru_cache(maxsize=1)
def colour_table() -> tuple[tuple[str, ...], np.ndarray]:
    """The named colours: names (XKCD's, then CSS4's) and their Lab coordinates."""
    xkcd, css4 = _matplotlib_tables()
    names, rgb = [], []
    for table, prefix in ((xkcd, "xkcd:"), (css4, "")):
        for key, value in table.items():
            names.append(key.removeprefix(prefix))
            rgb.append(list(bytes.fromhex(value.removeprefix("#"))))
    return tuple(names), to_lab(np.asarray(rgb))


@lru_cache(maxsize=1)
def _cells() -> np.ndarray:
    """Lab of every cell of every histogram bin (bin by bin, in colour.py's bin order), as
    a photo's colour is named: lightness spread, chroma raised."""
    step = 256 // colour.BINS
    corners = np.arange(colour.BINS) * step
    offsets = (np.arange(BIN_CELLS) + 0.5) * step / BIN_CELLS
    bins = np.stack(np.meshgrid(corners, corners, corners, indexing="ij"), -1).reshape(-1, 1, 3)
    inside = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), -1).reshape(1, -1, 3)
    lab = to_lab(np.floor(bins + inside).reshape(-1, 3))
    lab[:, 0] = 50.0 + (lab[:, 0] - 50.0) * LIGHTNESS_CONTRAST
    lab[:, 1:] *= CHROMA_GAIN
    return lab


def bin_shares_nearest(points: np.ndarray) -> np.ndarray:
    """(bins x points): the share of each histogram bin's cells whose nearest Lab point
    (of ``points``, n x 3) is each one."""
    from scipy.spatial import cKDTree

    nearest = cKDTree(np.asarray(points, np.float64)).query(_cells())[1]
    per_bin = BIN_CELLS**3
    out = np.zeros((colour.DIM, len(points)), np.float32)
    np.add.at(out, (np.repeat(np.arange(colour.DIM), per_bin), nearest), np.float32(1.0 / per_bin))
    return out


@lru_cache(maxsize=1)
def _table_bins() -> np.ndarray:
    return bin_shares_nearest(colour_table()[1])


def name_shares(hists: np.ndarray) -> np.ndarray:
    """(products x names): each colour-table name's share of each product's pixels, from
    its colour histograms (colour.colour_histogram, one per row)."""
    return (np.asarray(colour.bin_shares(hists), np.float64) @ _table_bins()).astype(np.float32)


def dominant_names(hist: np.ndarray, top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` colour names of one photo's histogram with their pixel shares, largest first."""
    shares = name_shares(np.asarray(hist)[None])[0]
    best = np.argsort(-shares, kind="stable")[:top]
    names = colour_table()[0]
    return [(names[i], float(shares[i])) for i in best if shares[i] > 0]


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    names = colour_table()[0]
    return frozenset(n.lower() for n in names) | frozenset(n.lower().replace(" ", "") for n in names)


def is_colour_name(value: str) -> bool:
    """Whether a tag value names a colour: it, or its last word ("Coffee Brown"), is in the
    colour table (case and spaces aside)."""
    words = value.lower().split()
    known = _known()
    return bool(words) and (" ".join(words) in known or "".join(words) in known or words[-1] in known)


def colour_groups(view: TagSet) -> list[np.ndarray]:
    """The groups of competing tags of ``view`` (tags.tag_groups) whose values are mostly
    colour names: the tags colour naming scores."""
    values = view.display_texts()
    return [cols for cols in tag_groups(view)
            if len(cols) and np.mean([is_colour_name(values[c]) for c in cols]) >= COLOUR_GROUP_SHARE]


def tag_bins(encode, view: TagSet) -> np.ndarray | None:
    """(tags x bins): for every tag of ``view``'s colour groups, the share of each histogram
    bin's cells named as that tag (zero rows for other tags and for colour tags no name
    stands for, such as "Multi"); None when ``view`` has no colour group.

    ``encode`` (a list of texts -> unit vectors, the text encoder's) embeds the colour
    names and the tag values, bare, to match them.
    """
    groups = colour_groups(view)
    if not groups:
        return None
    names, lab = colour_table()
    values = view.display_texts()
    vectors = np.asarray(encode(list(names) + [values[c] for cols in groups for c in cols]), np.float64)
    name_vectors, tag_vectors = vectors[: len(names)], vectors[len(names):]
    out = np.zeros((len(view), colour.DIM), np.float32)
    start = 0
    for cols in groups:
        sims = name_vectors @ tag_vectors[start:start + len(cols)].T
        start += len(cols)
        standing = sims.max(axis=1) >= MATCH
        if standing.any():
            np.add.at(out, cols[sims[standing].argmax(axis=1)], bin_shares_nearest(lab[standing]).T)
    return out
