"""Fusion of the signals' scores (per-tag weights, missing signals) and the selection of
tags from fused scores, checked against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.signals.fuse import column_weights, facet_best, fuse, select
from retrieval_tagger.signals.settings import FusionWeights
from retrieval_tagger.tags import TagSet


def test_fuse_with_a_missing_modality_renormalises_the_weights():
    text = np.array([[1.0, 0.0], [0.2, 0.8], [0.5, 0.5]], dtype=np.float32)
    image = np.array([[0.0, 1.0], [0.9, 0.1], [0.3, 0.3]], dtype=np.float32)
    present = {"text": np.array([True, True, False]), "image": np.array([True, False, False])}

    fused = fuse({"text": text, "image": image}, present, {"text": 0.6, "image": 0.4})

    np.testing.assert_allclose(fused[0], [0.6, 0.4], rtol=1e-6)  # both: weighted mean
    np.testing.assert_allclose(fused[1], [0.2, 0.8], rtol=1e-6)  # text only: text alone
    np.testing.assert_allclose(fused[2], [0.0, 0.0])  # neither: nothing


def test_fuse_uses_the_weights_not_just_their_ratio_to_one():
    text = np.array([[1.0]], dtype=np.float32)
    image = np.array([[0.0]], dtype=np.float32)
    present = {"text": np.array([True]), "image": np.array([True])}
    fused = fuse({"text": text, "image": image}, present, {"text": 3.0, "image": 1.0})
    assert fused[0, 0] == pytest.approx(0.75)


VOCAB = TagSet(
    ["colour:red", "colour:blue", "article:shirt", "cotton", "summer", "article:jeans"],
    [5, 4, 3, 2, 1, 1],
)


def test_facet_best():
    scores = np.array([[0.5, 0.7, 0.2, 0.9, 0.0, 0.1]], dtype=np.float32)
    best = facet_best(scores, VOCAB)
    assert int(best["colour"][0][0]) == 1 and best["colour"][1][0] == pytest.approx(0.7)
    assert int(best["article"][0][0]) == 2 and best["article"][1][0] == pytest.approx(0.2)


def test_select_keeps_one_value_per_facet():
    scores = np.array([[0.5, 0.7, 0.2, 0.9, 0.0, 0.1]], dtype=np.float32)
    picked = select(scores, VOCAB, top_n=10)
    assert [VOCAB.tags[c] for c, _ in picked[0]] == ["cotton", "colour:blue", "article:shirt"]
    assert [s for _, s in picked[0]] == pytest.approx([0.9, 0.7, 0.2])


def test_select_without_exclusivity_lets_every_value_through():
    scores = np.array([[0.5, 0.7, 0.2, 0.9, 0.0, 0.1]], dtype=np.float32)
    picked = select(scores, VOCAB, top_n=10, exclusive=False)
    assert [VOCAB.tags[c] for c, _ in picked[0]] == ["cotton", "colour:blue", "colour:red", "article:shirt", "article:jeans"]


def test_select_top_n_and_min_score():
    scores = np.array([
        [0.5, 0.7, 0.2, 0.9, 0.0, 0.1],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.1, 0.0, 0.0, 0.3, 0.6, 0.8],
    ], dtype=np.float32)

    top2 = select(scores, VOCAB, top_n=2)
    assert [[VOCAB.tags[c] for c, _ in row] for row in top2] == [
        ["cotton", "colour:blue"],
        [],  # zero scores are never tags
        ["article:jeans", "summer"],
    ]

    above = select(scores, VOCAB, top_n=10, min_score=0.3)
    assert [[VOCAB.tags[c] for c, _ in row] for row in above] == [
        ["cotton", "colour:blue"],  # article:shirt (0.2) is below 0.3
        [],
        ["article:jeans", "summer", "cotton"],
    ]


def test_select_with_free_tags_only_and_with_no_tags():
    free = TagSet(["a", "b", "c"], [1, 1, 1])
    picked = select(np.array([[0.1, 0.3, 0.2]], dtype=np.float32), free, top_n=2)
    assert [c for c, _ in picked[0]] == [1, 2]
    empty = TagSet([], [])
    assert select(np.zeros((2, 0), np.float32), empty, top_n=5) == [[], []]


GROUPED = TagSet(
    ["colour:red", "colour:blue", "article:shirt", "cotton", "article:jeans", "colour:green", "summer"],
    [7, 6, 5, 4, 3, 2, 1],
)  # colour: 0, 1, 5; article: 2, 4; free: 3, 6


def test_flat_weights_apply_to_every_column():
    weights = column_weights(FusionWeights({"text": 0.7, "image": 0.3}), GROUPED, ["text", "image", "names"])
    assert list(weights) == ["text", "image", "names"]
    np.testing.assert_array_equal(weights["text"], np.full(len(GROUPED), 0.7, np.float32))
    np.testing.assert_array_equal(weights["image"], np.full(len(GROUPED), 0.3, np.float32))
    np.testing.assert_array_equal(weights["names"], np.zeros(len(GROUPED)))  # not named: no weight


def test_facet_weights_override_only_that_facets_columns():
    weights = column_weights(
        FusionWeights(
            {"text": 0.6, "image": 0.4},
            {"colour": {"image": 0.9, "colour": 0.1}, "size": {"text": 1.0}},  # size: not in the vocab
        ),
        GROUPED,
        ["text", "image", "colour"],
    )
    colour_cols, rest = GROUPED.facets["colour"], [2, 3, 4, 6]
    assert weights["text"][colour_cols].tolist() == [0.0, 0.0, 0.0]  # missing from the facet's dict: 0
    np.testing.assert_allclose(weights["image"][colour_cols], 0.9)
    np.testing.assert_allclose(weights["colour"][colour_cols], 0.1)
    np.testing.assert_allclose(weights["text"][rest], 0.6)
    np.testing.assert_allclose(weights["image"][rest], 0.4)
    np.testing.assert_array_equal(weights["colour"][rest], 0.0)


def test_fuse_with_per_tag_weights_and_a_missing_signal():
    text = np.array([[0.8, 0.4, 0.2], [0.6, 0.6, 0.9]], dtype=np.float32)
    image = np.array([[0.2, 0.8, 1.0], [0.5, 0.5, 0.5]], dtype=np.float32)
    names = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=np.float32)
    scores = {"text": text, "image": image, "names": names}
    present = {"text": np.array([True, True]), "image": np.array([True, False]), "names": np.array([True, True])}
    weights = {"text": np.array([1.0, 0.5, 0.0]), "image": np.array([0.0, 0.5, 1.0]), "names": 0.25}

    fused = fuse(scores, present, weights)

    np.testing.assert_allclose(fused, [
        # product 0 has every signal: a weighted mean per tag
        [(0.8 + 0.25 * 0.5) / 1.25, (0.5 * 0.4 + 0.5 * 0.8 + 0.25 * 0.3) / 1.25, (1.0 + 0.25 * 0.2) / 1.25],
        # product 1 has no image: the weights of the others are renormalised per tag
        [(0.6 + 0.25 * 0.1) / 1.25, (0.5 * 0.6 + 0.25 * 0.1) / 0.75, 0.8],
    ], rtol=1e-6)
    no_names = fuse(scores, present, {**weights, "names": 0.0})
    assert no_names[1, 2] == 0.0  # only the absent image weighs on this tag: no score, not NaN
