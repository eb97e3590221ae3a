"""Neighbour votes: each of a product's k nearest catalog products votes for its tags
with a weight that grows with similarity (a softmax over the neighbours' similarities
at temperature ``temperature``)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from retrieval_tagger.index import store


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


def nearest(searcher, vector_rows: np.ndarray, queries: np.ndarray, k: int, self_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``k`` nearest catalog products: similarities and product rows (-1: none).

    ``vector_rows`` maps the store's vectors to product rows. With ``self_rows`` (see
    :func:`drop_self`) each query's own product is left out of its neighbours.
    """
    sims, found = store.search(searcher, queries, k + int(self_rows is not None))
    rows = np.where(found >= 0, vector_rows[np.maximum(found, 0)], -1)
    if self_rows is not None:
        sims, rows = drop_self(sims, rows, self_rows, k)
    return sims, rows


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
