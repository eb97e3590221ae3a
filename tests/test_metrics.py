"""Metrics on hand-made cases: ranking metrics, facet accuracy, diversity of picked lists."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrieval_tagger.metrics import facet_accuracy, ranking_metrics
from retrieval_tagger.tags import TagSet

L2 = math.log2


def test_ranking_metrics_by_hand():
    ranked = [["a", "b", "c"], ["x", "y", "z"], ["a"]]
    truths = [["a", "c"], ["y"], []]  # the third product has no truth: not evaluated

    m = ranking_metrics(ranked, truths, ks=(1, 3))

    assert m["evaluated"] == 2
    # product 1: hits at ranks 1 and 3 of 2 true tags; product 2: a hit at rank 2 of 1
    assert m["P@1"] == pytest.approx((1 + 0) / 2)
    assert m["R@1"] == pytest.approx((0.5 + 0) / 2)
    assert m["F1@1"] == pytest.approx((2 * 1 * 0.5 / 1.5 + 0) / 2)
    assert m["nDCG@1"] == pytest.approx((1 + 0) / 2)
    assert m["P@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert m["R@3"] == pytest.approx((1 + 1) / 2)
    assert m["F1@3"] == pytest.approx((0.8 + 0.5) / 2)
    ndcg1 = (1 + 1 / L2(4)) / (1 + 1 / L2(3))
    ndcg2 = (1 / L2(3)) / 1
    assert m["nDCG@3"] == pytest.approx((ndcg1 + ndcg2) / 2)


def test_precision_counts_missing_predictions_as_misses():
    m = ranking_metrics([["a"]], [["a", "b", "c"]], ks=(5,))
    assert m["P@5"] == pytest.approx(1 / 5)
    assert m["R@5"] == pytest.approx(1 / 3)
    assert m["nDCG@5"] == pytest.approx(1 / (1 + 1 / L2(3) + 1 / L2(4)))


def test_perfect_and_empty_rankings():
    perfect = ranking_metrics([["a", "b"]], [["b", "a"]], ks=(2,))
    assert perfect["P@2"] == perfect["R@2"] == perfect["F1@2"] == perfect["nDCG@2"] == pytest.approx(1.0)
    nothing = ranking_metrics([[]], [["a"]], ks=(1,))
    assert nothing["P@1"] == nothing["R@1"] == nothing["F1@1"] == nothing["nDCG@1"] == 0.0
    assert ranking_metrics([["a"]], [[]]) == {"evaluated": 0}


VOCAB = TagSet(["colour:red", "colour:blue", "article:shirt", "article:jeans", "cotton"], [1] * 5)


def test_facet_accuracy_by_hand():
    scores = np.array([
        [0.9, 0.1, 0.0, 0.8, 0.5],  # best colour red, best article jeans
        [0.2, 0.3, 0.6, 0.1, 0.0],  # best colour blue, best article shirt
        [0.0, 0.0, 0.0, 0.0, 0.9],  # no facet score at all
    ], dtype=np.float32)
    truths = [
        ["colour:red", "article:shirt", "cotton"],  # colour right, article wrong; free tag ignored
        ["colour:green", "article:shirt"],  # green is unknown to the index: wrong
        ["colour:red"],  # argmax of all-zero scores is not a prediction: wrong
    ]

    acc = facet_accuracy(scores, VOCAB, truths)

    assert acc["facet_accuracy"] == pytest.approx(2 / 5)
    assert acc["facets"] == {
        "article": {"accuracy": pytest.approx(1 / 2), "count": 2},
        "colour": {"accuracy": pytest.approx(1 / 3), "count": 3},
    }


def test_facet_accuracy_for_a_facet_the_index_does_not_know():
    acc = facet_accuracy(np.ones((1, 5), np.float32), VOCAB, [["season:Summer"]])
    assert acc["facets"] == {"season": {"accuracy": 0.0, "count": 1}}
