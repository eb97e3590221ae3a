"""Every facet answered, and review flags: a facet missing from a chosen list comes back
with its best value; tags below their threshold are marked, or left out when asked."""

from __future__ import annotations

import numpy as np

from retrieval_tagger.answers import every_facet, tag_dicts
from retrieval_tagger.tags import TagSet

VOCAB = TagSet(["a:x", "a:y", "b:p", "b:q", "red"], [1] * 5)


def test_missing_facets_come_back_with_their_best_value():
    scores = np.array([[0.9, 0.1, 0.02, 0.03, 0.5],
                       [0.2, 0.7, 0.6, 0.1, 0.0]])
    picked = [[(0, 0.9), (4, 0.5)], [(1, 0.7), (2, 0.6)]]
    out = every_facet(picked, scores, VOCAB)
    assert out[0] == [(0, 0.9), (4, 0.5), (3, 0.03)]  # b's best value, though below any threshold
    assert out[1] == picked[1]  # nothing missing, nothing added


def test_a_vocabulary_without_facets_is_left_as_it_is():
    free = TagSet(["red", "blue"], [1, 1])
    picked = [[(0, 0.4)]]
    assert every_facet(picked, np.array([[0.4, 0.1]]), free) is picked


def test_tags_below_their_floor_are_marked_or_dropped():
    row = [(0, 0.9), (2, 0.3), (3, 0.0)]
    floor = np.array([0.5, 0.5, 0.2, 0.0, 0.5])
    assert tag_dicts(row, floor, VOCAB.tags) == [
        {"tag": "a:x", "score": 0.9},
        {"tag": "b:p", "score": 0.3},
        {"tag": "b:q", "score": 0.0, "review": True},  # a score of 0 is never trusted
    ]
    floor[2] = 0.35
    assert tag_dicts(row, floor, VOCAB.tags)[1] == {"tag": "b:p", "score": 0.3, "review": True}
    assert tag_dicts(row, floor, VOCAB.tags, drop_review=True) == [{"tag": "a:x", "score": 0.9}]


def test_a_facet_without_any_evidence_is_not_invented():
    vocab = TagSet(["level1:Toys", "level2:Trains", "level3:Steam", "level3:Diesel"], [3, 2, 1, 1])
    scores = np.array([[0.9, 0.8, 0.0, 0.0]], np.float32)  # a decoded path that ends at level 2
    (row,) = every_facet([[(0, 0.9)]], scores, vocab)
    assert [c for c, _ in row] == [0, 1]  # level 2 added; level 3 has no value to give
