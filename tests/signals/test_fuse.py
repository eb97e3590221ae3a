"""Neighbour votes and fusion, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

from retrieval_tagger.signals.fuse import facet_best, fuse, select
from retrieval_tagger.signals.knn import drop_self, neighbour_weights, vote
from retrieval_tagger.tags import TagSet, split_facet

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


def test_vocab_groups_facets_and_free_tags():
    assert {f: list(c) for f, c in VOCAB.facets.items()} == {"colour": [0, 1], "article": [2, 5]}
    assert list(VOCAB.free) == [3, 4]
    assert split_facet("gender:Men") == ("gender", "Men")
    assert split_facet("size: 10:30") == ("size", " 10:30")
    assert split_facet("Ratio 3:2") == (None, "Ratio 3:2")  # a space before ':' -> free tag
    assert split_facet(":x") == (None, ":x")


def test_vocab_from_tag_lists_orders_by_frequency_then_name():
    vocab = TagSet.from_tag_lists([["b", "a"], ["a", "c"], ["c", "z"]])
    assert vocab.tags == ["a", "c", "b", "z"]
    assert vocab.counts == [2, 2, 1, 1]
    indptr, indices = vocab.encode_lists([["z", "unknown", "a"], []])
    assert list(indptr) == [0, 2, 2]
    assert list(indices) == [3, 0]
    assert TagSet.from_json(vocab.to_json()).tags == vocab.tags


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
