"""Score -> precision tables: the curve against a brute-force count, thresholds that reach
their target, ties kept together, picks per facet and for free tags, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger import precision
from retrieval_tagger.tags import TagSet


def brute_precision(scores, correct, t):
    keep = scores >= t
    return correct[keep].mean(), keep.mean()


def test_curve_matches_a_brute_force_count_at_every_cut():
    rng = np.random.default_rng(0)
    scores = rng.random(500).round(2)  # many ties
    correct = rng.random(500) < scores  # higher scores are right more often
    curve = precision.curve(scores, correct, points=10_000)
    assert np.all(np.diff(curve.score) < 0) and curve.count == 500
    for s, p, c in zip(curve.score, curve.precision, curve.coverage):
        bp, bc = brute_precision(scores, correct, s)
        assert p == pytest.approx(bp) and c == pytest.approx(bc)
    assert curve.coverage[-1] == 1.0


def test_downsampled_curve_keeps_exact_cuts_evenly_spread():
    rng = np.random.default_rng(1)
    scores, correct = rng.random(5000), rng.random(5000) < 0.8
    curve = precision.curve(scores, correct, points=50)
    assert 45 <= len(curve.score) <= 51
    assert np.diff(curve.coverage).max() <= 0.021
    for s, p in zip(curve.score[::7], curve.precision[::7]):
        assert p == pytest.approx(brute_precision(scores, correct, s)[0])


def test_threshold_is_the_widest_cut_that_reaches_the_target():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    correct = np.array([True, True, True, False, True, False])
    curve = precision.curve(scores, correct)
    assert curve.threshold(1.0) == 0.7  # the top three are right
    assert curve.threshold(0.8) == 0.5  # 4 of the top 5
    assert curve.threshold(0.5) == 0.4
    assert precision.curve(scores, np.zeros(6, bool)).threshold(0.5) == float("inf")
    assert precision.curve(np.zeros(0), np.zeros(0, bool)).threshold(0.5) == float("inf")


def test_equal_scores_are_kept_or_cut_together():
    curve = precision.curve(np.array([0.9, 0.5, 0.5, 0.5]), np.array([True, True, False, False]))
    assert list(curve.score) == [0.9, 0.5]
    assert curve.precision[1] == pytest.approx(0.5) and curve.threshold(0.9) == 0.9


def vocab():
    # facet a: columns 0-2, facet b: 3-4, free tags: 5-7
    return TagSet(["a:x", "a:y", "a:z", "b:p", "b:q", "red", "blue", "soft"], [1] * 8)


def test_picks_per_facet_judge_products_with_a_true_value_and_free_tags_their_best():
    v = vocab()
    scores = np.array([[0.7, 0.2, 0.1, 0.6, 0.4, 0.9, 0.0, 0.3],
                       [0.1, 0.8, 0.1, 0.5, 0.5, 0.2, 0.6, 0.0]])
    truth = np.zeros_like(scores, dtype=bool)
    truth[0, [0, 5]] = True  # no value of b: not judged there
    truth[1, [2, 3, 6]] = True
    picks = precision.group_picks(scores, truth, v)
    assert set(picks) == {"a", "b", precision.FREE}
    np.testing.assert_allclose(picks["a"][0], [0.7, 0.8])
    assert list(picks["a"][1]) == [True, False]
    assert list(picks["b"][0]) == [0.5] and list(picks["b"][1]) == [True]  # a tie goes to the first value
    free_scores, free_right = picks[precision.FREE]
    assert sorted(zip(free_scores.tolist(), free_right.tolist())) == [(0.2, False), (0.3, False), (0.6, True), (0.9, True)]
    judged = precision.facet_picks(scores, truth, v.facets["b"], judged=np.array([True, True]))
    assert len(judged[0]) == 2 and not judged[1][0]  # a true value the index lacks is wrong


def test_column_thresholds_follow_each_group_and_missing_ones_are_infinite():
    v = vocab()
    curves = {"a": precision.curve(np.array([0.9, 0.3]), np.array([True, False])),
              precision.FREE: precision.curve(np.array([0.8, 0.6]), np.array([True, True]))}
    cols = precision.column_thresholds(curves, v, 0.95)
    np.testing.assert_array_equal(cols, [0.9, 0.9, 0.9, np.inf, np.inf, 0.6, 0.6, 0.6])


def test_kept_reports_precision_and_coverage():
    out = precision.kept(np.array([0.9, 0.8, 0.2]), np.array([True, False, True]), 0.5)
    assert out == {"threshold": 0.5, "precision": 0.5, "coverage": pytest.approx(2 / 3), "kept": 2, "judged": 3}
    assert precision.kept(np.array([0.1]), np.array([True]), float("inf"))["threshold"] is None
    per = precision.kept(np.array([0.9, 0.4]), np.array([True, True]), np.array([0.95, 0.3]))
    assert "threshold" not in per and per["kept"] == 1


def test_tables_round_trip_through_json():
    import json

    rng = np.random.default_rng(2)
    curves = {"a": precision.curve(rng.random(300), rng.random(300) < 0.7)}
    data = json.loads(json.dumps(precision.tables_to_json(curves, "fused", 300)))
    assert data["scores"] == "fused" and data["products"] == 300
    back = precision.tables_from_json(data)
    for t in (0.5, 0.7, 0.9):
        assert back["a"].threshold(t) == pytest.approx(curves["a"].threshold(t), abs=1e-6)
    assert precision.tables_from_json(None) == {}
