"""Neighbour votes checked against numbers worked out by hand, and the leave-one-out fit of
a kNN signal's k and temperature."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

from retrieval_tagger.signals.knn import drop_self, fit_knn, neighbour_weights, vote

# 4 catalog products x 3 tags (a, b, c)
PRODUCT_TAGS = sparse.csr_matrix(np.array([
    [1, 0, 0],  # product 0: a
    [1, 1, 0],  # product 1: a, b
    [0, 0, 1],  # product 2: c
    [0, 1, 1],  # product 3: b, c
], dtype=np.float32))


def softmax(values, temperature):
    exps = [math.exp(v / temperature) for v in values]
    return [e / sum(exps) for e in exps]


def test_neighbour_weights_and_votes_by_hand():
    # query 0 has 3 neighbours; query 1 has only 2 (the third slot is empty: row -1)
    sims = np.array([[0.9, 0.8, 0.5], [0.7, 0.6, -np.inf]], dtype=np.float32)
    rows = np.array([[0, 1, 2], [3, 0, -1]])
    t = 0.1

    weights = neighbour_weights(sims, rows, t)

    w0 = softmax([0.9, 0.8, 0.5], t)  # e^0, e^-1, e^-4 over their sum
    w1 = softmax([0.7, 0.6], t) + [0.0]
    np.testing.assert_allclose(weights, [w0, w1], rtol=1e-5)
    np.testing.assert_allclose(weights.sum(axis=1), [1.0, 1.0], rtol=1e-6)

    votes = vote(weights, rows, PRODUCT_TAGS)

    # tag a: products 0 and 1; tag b: products 1 and 3; tag c: products 2 and 3
    expected = [
        [w0[0] + w0[1], w0[1], w0[2]],
        [w1[1], w1[0], w1[0]],
    ]
    np.testing.assert_allclose(votes, expected, rtol=1e-5)
    assert votes.dtype == np.float32


def test_lower_temperature_sharpens_the_weights():
    sims = np.array([[0.9, 0.8]], dtype=np.float32)
    rows = np.array([[0, 1]])
    sharp = neighbour_weights(sims, rows, 0.01)[0]
    flat = neighbour_weights(sims, rows, 10.0)[0]
    assert sharp[0] > 0.99
    assert abs(flat[0] - flat[1]) < 0.01


def test_weights_of_a_query_without_neighbours_are_zero():
    sims = np.full((1, 3), -np.inf, dtype=np.float32)
    rows = np.full((1, 3), -1)
    weights = neighbour_weights(sims, rows, 0.05)
    assert np.all(weights == 0)
    assert np.all(vote(weights, rows, PRODUCT_TAGS) == 0)


def test_weights_of_an_empty_search_result():
    weights = neighbour_weights(np.zeros((2, 0), np.float32), np.zeros((2, 0), np.int64), 0.05)
    assert weights.shape == (2, 0)
    assert vote(weights, np.zeros((2, 0), np.int64), PRODUCT_TAGS).shape == (2, 3)


def test_drop_self_removes_the_query_and_keeps_k():
    sims = np.array([[1.0, 0.9, 0.8, 0.7], [0.95, 0.9, 0.85, 0.1]], dtype=np.float32)
    rows = np.array([[5, 2, 7, 1], [3, 4, 6, 8]])
    self_rows = np.array([5, -1])  # query 1 is not in the catalog

    out_sims, out_rows = drop_self(sims, rows, self_rows, k=3)

    np.testing.assert_array_equal(out_rows, [[2, 7, 1], [3, 4, 6]])
    np.testing.assert_allclose(out_sims, [[0.9, 0.8, 0.7], [0.95, 0.9, 0.85]])


def test_drop_self_when_self_is_not_first_and_slots_run_out():
    # exact ties can put the product itself anywhere in its own neighbour list
    sims = np.array([[0.9, 0.9, 0.5]], dtype=np.float32)
    rows = np.array([[4, 2, -1]])
    out_sims, out_rows = drop_self(sims, rows, np.array([2]), k=2)
    np.testing.assert_array_equal(out_rows, [[4, -1]])
    assert out_sims[0, 0] == pytest.approx(0.9)
    assert out_sims[0, 1] == -np.inf
    # and the empty slot gets no vote
    weights = neighbour_weights(out_sims, out_rows, 0.05)
    np.testing.assert_allclose(weights, [[1.0, 0.0]])


N_QUERIES = 40


HALF = 50  # catalog rows 0..49 carry tag 0 (x:a), rows 50..99 tag 1 (x:b)


CATALOG_TAGS = sparse.csr_matrix(np.repeat(np.eye(2, dtype=np.float32), HALF, axis=0))


X_GROUPS = [np.array([0, 1])]


def knn_case(pattern: str, sims, absent: int = 0):
    """Neighbours of ``N_QUERIES`` queries (true tag alternating): slot j holds a catalog
    product with the query's tag where ``pattern[j]`` is 'R', the other tag where 'W'.

    ``absent`` more queries (true tag 1) lack this signal; their rows are -1.
    """
    label = np.arange(N_QUERIES) % 2
    slot = np.arange(len(pattern))
    same = np.array([c == "R" for c in pattern])
    tag = np.where(same[None, :], label[:, None], 1 - label[:, None])
    rows = tag * HALF + slot[None, :]
    sims = np.tile(np.asarray(sims, dtype=np.float32), (N_QUERIES, 1))
    truth = np.eye(2, dtype=bool)[label]
    if absent:
        rows = np.vstack([rows, np.full((absent, len(pattern)), -1)])
        sims = np.vstack([sims, np.zeros((absent, len(pattern)), np.float32)])
        truth = np.vstack([truth, np.tile([False, True], (absent, 1))])
    present = np.arange(len(rows)) < N_QUERIES
    return (sims, rows, present), truth


def test_fit_knn_finds_the_temperature_that_lets_close_neighbours_outvote_the_nearest():
    # the nearest is wrong; the next four, a little further, are right; the rest are far and wrong
    nb, truth = knn_case("W" + "R" * 4 + "W" * 35, [0.9] + [0.85] * 4 + [0.5] * 35, absent=6)

    params, votes, acc = fit_knn(*nb, CATALOG_TAGS, X_GROUPS, truth)

    # at 0.02 the nearest outweighs the four (exp(-2.5) each); at 0.05 it no longer does
    assert params == {"k": 5, "temperature": 0.05}
    assert acc == 1.0  # the six queries without the signal are not counted
    assert votes.shape == (N_QUERIES + 6, 2) and np.all(votes[N_QUERIES:] == 0)


def test_fit_knn_finds_that_many_neighbours_are_needed():
    # the ten nearest are wrong, the thirty after them right
    nb, truth = knn_case("W" * 10 + "R" * 30, np.linspace(0.81, 0.80, 40))
    params, _, acc = fit_knn(*nb, CATALOG_TAGS, X_GROUPS, truth)
    assert params["k"] == 40 and acc == 1.0


def test_fit_knn_when_the_nearest_is_right_prefers_few_or_sharp_votes():
    nb, truth = knn_case("R" + "W" * 39, [0.9] + [0.5] * 39)
    params, _, acc = fit_knn(*nb, CATALOG_TAGS, X_GROUPS, truth)
    assert acc == 1.0 and params["temperature"] < 1.0  # at 1.0 the many wrong ones win


def test_fit_knn_caps_k_at_the_neighbours_searched():
    nb, truth = knn_case("WWWRRRRR", [0.8] * 8)
    params, _, acc = fit_knn(*nb, CATALOG_TAGS, X_GROUPS, truth)
    assert params["k"] == 8 and acc == 1.0  # asked for 10: only 8 were searched
