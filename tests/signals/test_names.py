"""The names signal: softmax of tag-name similarities within each group of competing tags,
and its temperature fitted by the likelihood of the true tags."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrieval_tagger.signals.fit import (
    group_hits,
    micro_accuracy,
)
from retrieval_tagger.signals.names import GRID_T as GRID_NAMES_T
from retrieval_tagger.signals.names import fit_names, group_softmax
from retrieval_tagger.tags import TagSet, tag_groups

VOCAB = TagSet(
    ["colour:red", "colour:blue", "article:shirt", "cotton", "article:jeans", "colour:green", "summer"],
    [7, 6, 5, 4, 3, 2, 1],
)  # colour: 0, 1, 5; article: 2, 4; free: 3, 6


def test_group_softmax_by_hand():
    sims = np.array([[1.0, 0.0, 0.3]], dtype=np.float32)
    out = group_softmax(sims, [np.array([0, 1]), np.array([2])], temperature=0.5)
    e = math.exp(2.0)
    np.testing.assert_allclose(out, [[e / (e + 1), 1 / (e + 1), 1.0]], rtol=1e-6)


def test_group_softmax_sums_to_one_per_group_and_groups_are_independent():
    rng = np.random.default_rng(1)
    sims = rng.uniform(-1, 1, size=(5, len(VOCAB))).astype(np.float32)
    groups = tag_groups(VOCAB)

    out = group_softmax(sims, groups, temperature=0.05)

    for cols in groups:
        np.testing.assert_allclose(out[:, cols].sum(axis=1), 1.0, rtol=1e-5)
    changed = sims.copy()
    changed[:, VOCAB.facets["colour"]] += rng.uniform(-1, 1, size=(5, 3)).astype(np.float32)
    again = group_softmax(changed, groups, temperature=0.05)
    others = np.r_[VOCAB.facets["article"], VOCAB.free]
    np.testing.assert_array_equal(again[:, others], out[:, others])
    assert not np.allclose(again[:, VOCAB.facets["colour"]], out[:, VOCAB.facets["colour"]])


def test_group_softmax_temperature_sharpens_and_large_values_do_not_overflow():
    sims = np.array([[0.5, 0.4]], dtype=np.float32)
    cols = [np.array([0, 1])]
    soft, sharp = group_softmax(sims, cols, 1.0), group_softmax(sims, cols, 0.01)
    assert 0.5 < soft[0, 0] < 0.6 and sharp[0, 0] > 0.99
    huge = group_softmax(np.array([[1000.0, 999.0]], dtype=np.float32), cols, 0.01)
    assert np.all(np.isfinite(huge)) and huge[0, 0] == pytest.approx(1.0)


def test_names_signal_ranks_the_tag_equal_to_the_query_first():
    rng = np.random.default_rng(2)
    tag_vectors = rng.normal(size=(len(VOCAB), 16)).astype(np.float32)
    tag_vectors /= np.linalg.norm(tag_vectors, axis=1, keepdims=True)
    queries = tag_vectors[[0, 4, 6]]  # colour:red, article:jeans, summer

    scores = group_softmax(queries @ tag_vectors.T, tag_groups(VOCAB), temperature=0.05)

    assert scores.shape == (3, len(VOCAB))
    for query, (tag, cols) in enumerate([(0, VOCAB.facets["colour"]), (4, VOCAB.facets["article"]), (6, VOCAB.free)]):
        assert cols[np.argmax(scores[query, cols])] == tag
        np.testing.assert_allclose(scores[query, cols].sum(), 1.0, rtol=1e-5)


def test_fit_names_returns_a_grid_temperature_and_its_scores(two_facets):
    truth, scores, groups = two_facets
    sims = scores["A"] * 0.3  # right on x, wrong on y, right on z and free tags
    group_list = list(groups.values())

    params, names, acc = fit_names(sims, group_list, truth)

    assert params["temperature"] in GRID_NAMES_T
    np.testing.assert_allclose(names, group_softmax(sims, group_list, params["temperature"]))
    assert group_hits(names, groups["x"], truth) == (40, 40)
    assert group_hits(names, groups["y"], truth) == (0, 40)
    assert acc == pytest.approx(micro_accuracy(names, group_list, truth))


def test_names_temperature_is_chosen_by_the_likelihood_of_the_true_tags():
    # the true tag is ahead by 0.05 everywhere: sharper distributions put more mass on it
    truth = np.zeros((50, 2), dtype=bool)
    truth[:, 0] = True
    sims = np.tile(np.array([[0.55, 0.5]], np.float32), (50, 1))
    params, _, acc = fit_names(sims, [np.array([0, 1])], truth)
    assert params["temperature"] == min(GRID_NAMES_T) and acc == 1.0
    # a true tag behind by 0.05 half the time: a sharp softmax is punished, a soft one wins
    truth[::2] = [False, True]
    params, _, _ = fit_names(sims, [np.array([0, 1])], truth)
    assert params["temperature"] == max(GRID_NAMES_T)
