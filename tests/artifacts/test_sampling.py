"""artifacts/sampling.py: the id-hash sampler against the formulas it replaced."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from retrieval_tagger import artifacts

# the id-hash sampler reproduces the samples and splits written before it


def ids_for_sampling() -> list[str]:
    rng = np.random.default_rng(7)
    ids = [f"p{int(n):06d}" for n in rng.integers(0, 10**6, 300)] + ["é-ü-☃", "", "  spaced  ", "p000001", "p000001"]
    rng.shuffle(ids)
    return ids


def old_sample(ids: list[str], size: int | None) -> np.ndarray:
    """build.py _fit and rerank/training.py leave_one_out before artifacts.hash_sample."""
    rows = np.arange(len(ids))
    keys = np.asarray([hashlib.sha1(i.encode("utf-8")).digest()[:8] for i in ids])
    return np.sort(rows[np.argsort(keys, kind="stable")[:size]])


@pytest.mark.parametrize("size", [1, 2, 50, 200, 305, 1000, None])
def test_hash_sample_picks_the_rows_the_old_formula_picked(size):
    ids = ids_for_sampling()
    np.testing.assert_array_equal(artifacts.hash_sample(ids, size), old_sample(ids, size))
    tagged = np.flatnonzero(np.arange(len(ids)) % 3 != 1)  # as build and the reranker call it: on a subset of rows
    subset = [ids[i] for i in tagged]
    np.testing.assert_array_equal(tagged[artifacts.hash_sample(subset, size)], tagged[old_sample(subset, size)])


def test_ties_go_to_the_earlier_row_as_before():
    ids = ["same"] * 100 + ["other"] * 100
    for size in (5, 150):
        np.testing.assert_array_equal(artifacts.hash_sample(ids, size), old_sample(ids, size))


def test_hash_sample_follows_the_ids_not_their_order():
    ids = sorted(set(ids_for_sampling()))
    reordered = ids[::-1]
    chosen = {ids[i] for i in artifacts.hash_sample(ids, 60)}
    assert chosen == {reordered[i] for i in artifacts.hash_sample(reordered, 60)}
    assert chosen != set(ids[:60]) and chosen != set(reordered[:60])


def test_hash_bucket_reproduces_the_reranker_splits_and_the_align_validation_mask():
    from retrieval_tagger.align.pairs import validation_mask
    from retrieval_tagger.rerank.training import split_of

    ids = ids_for_sampling()
    shares = (70, 85)
    old_splits = [int(np.searchsorted(shares, int(hashlib.sha1(("rerank:" + i).encode("utf-8")).hexdigest()[:8], 16) % 100, side="right")) for i in ids]
    assert [split_of(i) for i in ids] == old_splits
    assert set(old_splits) == {0, 1, 2}
    for fraction in (0.05, 0.1, 0.5):
        old_mask = np.asarray([int.from_bytes(hashlib.sha1(i.encode("utf-8")).digest()[:4], "big") % 10_000 for i in ids]) < int(round(fraction * 10_000))
        np.testing.assert_array_equal(validation_mask(ids, fraction), old_mask)
        assert 0 < old_mask.sum() < len(ids)
