"""A short list of candidate tags per product, so later stages work on (products x ~50)
arrays instead of (products x tags)."""

from __future__ import annotations

import numpy as np


def shortlist(score_sets: list[np.ndarray], groups: list[np.ndarray], order: np.ndarray,
              per_signal: int = 20, per_group: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Candidate columns (n x C), best ``order`` first, and which of them are real (n x C).

    A tag is a candidate when it is among the top ``per_signal`` of any score matrix in
    ``score_sets`` (with a positive score), or among the top ``per_group`` of ``order`` in
    its group of competing tags, so every facet keeps a few values. C is the largest
    number of candidates any product has; shorter rows are padded with unreal ones.
    """
    n, n_tags = order.shape
    mask = np.zeros((n, n_tags), dtype=bool)
    rows = np.arange(n)[:, None]
    for scores in score_sets:
        m = min(per_signal, n_tags)
        top = np.argpartition(-scores, m - 1, axis=1)[:, :m]
        mask[rows, top] |= np.take_along_axis(scores, top, axis=1) > 0
    for cols in groups:
        m = min(per_group, len(cols))
        top = cols[np.argpartition(-order[:, cols], m - 1, axis=1)[:, :m]]
        mask[rows, top] = True
    size = max(1, int(mask.sum(axis=1).max())) if n else 1
    key = np.where(mask, order.astype(np.float64), -np.inf)
    cand = np.argpartition(-key, size - 1, axis=1)[:, :size] if size < n_tags else np.tile(np.arange(n_tags), (n, 1))
    cand = np.take_along_axis(cand, np.argsort(-np.take_along_axis(key, cand, axis=1), axis=1, kind="stable"), axis=1)
    return cand, np.take_along_axis(mask, cand, axis=1)
