"""The candidate short list, worked out by hand: a signal's best tags with a positive
score, each group's best few by the order, best first, shorter rows padded."""

from __future__ import annotations

import numpy as np

from retrieval_tagger.rerank.shortlist import shortlist

GROUPS = [np.array([0, 1]), np.array([2, 3, 4])]


def test_candidates_come_from_the_signals_and_from_each_group():
    order = np.array([[0.9, 0.1, 0.5, 0.3, 0.0], [0.2, 0.3, 0.1, 0.0, 0.4]], np.float32)
    signal = np.array([[0.0, 0.8, 0.0, 0.0, 0.1], [0.0, 0.0, 0.0, 0.0, 0.0]], np.float32)

    cand, valid = shortlist([signal], GROUPS, order, per_signal=1, per_group=1)

    # row 0: column 1 is the signal's best; 0 and 2 lead their groups; best order first
    assert cand[0].tolist() == [0, 2, 1] and valid[0].tolist() == [True, True, True]
    # row 1: the signal scores nothing; 1 and 4 lead their groups; one padding slot
    assert cand[1, :2].tolist() == [4, 1] and valid[1].tolist() == [True, True, False]
    assert cand[1, 2] not in (1, 4)


def test_more_per_group_and_per_signal_widen_the_list():
    rng = np.random.default_rng(0)
    order = rng.random((6, 5)).astype(np.float32)
    narrow, narrow_valid = shortlist([order], GROUPS, order, per_signal=1, per_group=1)
    wide, wide_valid = shortlist([order], GROUPS, order, per_signal=5, per_group=3)
    assert wide.shape == (6, 5) and wide_valid.all()  # every tag: the lists hold them all
    for row in range(6):
        assert set(narrow[row][narrow_valid[row]]) <= set(wide[row])
        kept = order[row, wide[row]]
        assert np.all(np.diff(kept) <= 0)  # best order first


def test_no_products():
    cand, valid = shortlist([np.zeros((0, 5), np.float32)], GROUPS, np.zeros((0, 5), np.float32))
    assert cand.shape[0] == valid.shape[0] == 0
