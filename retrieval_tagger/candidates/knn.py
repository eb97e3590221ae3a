"""Neighbour votes: each of a product's k nearest catalog products votes for its tags
with a weight that grows with similarity (a softmax over the neighbours' similarities
at temperature ``temperature``)."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def drop_self(sims: np.ndarray, rows: np.ndarray, self_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own catalog row from its neighbours and keep the first ``k``.

    ``self_rows[q]`` is the catalog row of query q, or -1 when it is not in the catalog.
    Search for k+1 neighbours before calling this, so k remain.
    """
    valid = (rows >= 0) & (rows != self_rows[:, None])
    order = np.argsort(~valid, axis=1, kind="stable")[:, :k]
    sims = np.take_along_axis(sims, order, axis=1)
    rows = np.take_along_axis(rows, order, axis=1)
    keep = np.take_along_axis(valid, order, axis=1)
    return np.where(keep, sims, -np.inf).astype(np.float32), np.where(keep, rows, -1)


def neighbour_weights(sims: np.ndarray, rows: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of similarities over each query's valid neighbours (rows >= 0)."""
    valid = rows >= 0
    if sims.size == 0:
        return np.zeros_like(sims, dtype=np.float32)
    safe = np.where(valid, sims, -np.inf)
    top = np.max(safe, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.where(valid, np.exp((safe - top) / max(temperature, 1e-6)), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    return (weights / np.where(total > 0, total, 1.0)).astype(np.float32)


def vote(weights: np.ndarray, product_rows: np.ndarray, product_tags: sparse.csr_matrix) -> np.ndarray:
    """Dense (queries x tags) votes: sum of neighbour weights over the neighbours having each tag.

    ``product_rows`` are catalog product rows (-1 for no neighbour); ``product_tags`` is the
    (products x tags) 0/1 matrix. Scores lie in [0, 1].
    """
    n_queries, k = product_rows.shape
    valid = product_rows >= 0
    q_idx = np.repeat(np.arange(n_queries), k)[valid.ravel()]
    w = sparse.csr_matrix(
        (weights.ravel()[valid.ravel()], (q_idx, product_rows.ravel()[valid.ravel()])),
        shape=(n_queries, product_tags.shape[0]),
    )
    return np.asarray((w @ product_tags).todense(), dtype=np.float32)
