"""Image-title pairs for alignment: products with both, a validation share chosen by id
hash, a hash of the data, and catalogs too small to train on refused."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from shapes import write_shapes_catalog

from retrieval_tagger.align.pairs import (
    MIN_PAIRS,
    data_sha256,
    read_pairs,
    validation_mask,
)
from retrieval_tagger.errors import AlignError


@pytest.fixture()
def shapes(tmp_path):
    """12 shapes, one of each colour x shape, plus a row without an image and one without text."""
    path = write_shapes_catalog(tmp_path, per_class=1)
    with path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["no-image", "red hexagon", ""])
        writer.writerow(["no-text", "", "images/red-circle-0.png"])
    return path


def test_pairs_are_the_products_with_text_and_an_image(shapes):
    pairs, report, skipped = read_pairs(shapes, val_fraction=0.2)
    assert len(pairs) == 12 and skipped == 2 and report.rows_read == 14
    assert "no-image" not in pairs.ids and "no-text" not in pairs.ids
    assert pairs.texts[0] == "red circle" and pairs.images[0].endswith("red-circle-0.png")
    np.testing.assert_array_equal(pairs.val, validation_mask(pairs.ids, 0.2))


def test_the_validation_share_is_chosen_by_id_and_tiny_catalogs_keep_one(shapes):
    ids = [f"product-{i}" for i in range(5000)]
    mask = validation_mask(ids, 0.1)
    assert abs(mask.mean() - 0.1) < 0.015
    np.testing.assert_array_equal(validation_mask(ids[::-1], 0.1), mask[::-1])  # by id, not by position
    pairs, _, _ = read_pairs(shapes, val_fraction=0.01)
    assert pairs.val.sum() >= 1 and not pairs.val.all()


def test_the_data_hash_follows_ids_texts_and_image_files(shapes):
    pairs, _, _ = read_pairs(shapes)
    first = data_sha256(pairs)
    assert data_sha256(read_pairs(shapes)[0]) == first
    pairs.texts[3] = "blue ellipse"
    assert data_sha256(pairs) != first
    pairs, _, _ = read_pairs(shapes)
    with open(pairs.images[0], "ab") as fh:  # same name, another file
        fh.write(b"\0")
    assert data_sha256(pairs) != first


def test_too_few_pairs_or_no_pairs_to_train_on_are_refused(shapes, tmp_path):
    small = tmp_path / "small.csv"
    small.write_text("\n".join(shapes.read_text(encoding="utf-8").splitlines()[:MIN_PAIRS]) + "\n", encoding="utf-8")
    with pytest.raises(AlignError, match=f"has {MIN_PAIRS - 1} products with both text and an image; alignment needs at least {MIN_PAIRS}"):
        read_pairs(small)
    with pytest.raises(AlignError, match="--val-fraction 1.0 leaves no pairs to train on"):
        read_pairs(shapes, val_fraction=1.0)
