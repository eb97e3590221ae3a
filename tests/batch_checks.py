"""Checks that an encoder gives each item the vector it gets alone, whatever batch it is
encoded in (used by the text and image batch tests)."""

from __future__ import annotations

import random

import numpy as np


def groupings(sizes: list[int], seed: int = 0) -> list[list[list[int]]]:
    """Ways of cutting items 0..n-1 (of these ``sizes``) into batches: each beside the
    largest and beside the smallest item, shuffled groups of 2, 3 and 5, and all at once in
    reverse order."""
    n = len(sizes)
    largest, smallest = int(np.argmax(sizes)), int(np.argmin(sizes))
    ways = [[[i, largest] for i in range(n)], [[smallest, i] for i in range(n)], [list(range(n))[::-1]]]
    rng = random.Random(seed)
    for size in (2, 3, 5):
        order = list(range(n))
        rng.shuffle(order)
        ways.append([order[i:i + size] for i in range(0, n, size)])
    return ways


def assert_batch_independent(encode, items: list, sizes: list[int], atol: float = 1e-5) -> None:
    """``encode(batch)`` (rows in the batch's order) gives each item the vector it gets
    alone, within ``atol``, in every batching of :func:`groupings`."""
    alone = np.concatenate([encode([item]) for item in items])
    for way in groupings(sizes):
        got = np.zeros_like(alone)
        for batch in way:
            got[batch] = encode([items[i] for i in batch])
        assert np.abs(got - alone).max() <= atol, way
