"""Exact inner products that do not depend on what else is in the batch.

A BLAS matrix product may add a row's terms in a different order when the batch has a
different size (faiss switches to BLAS at 20 queries; numpy uses a vector kernel for one
row), so the same product could get a score differing in the last bits, and at a tie a
different neighbour or tag, depending on its batch-mates. Both helpers here give each row
the same float32 values whatever batch it is in:

- :func:`inner_products` (queries x targets tables, e.g. a product against every tag name)
  multiplies in float64 and rounds to float32: the float64 sums differ by ~1e-16, far below
  float32's resolution.
- :func:`rescore` re-computes the similarities of the rows a search returned with a
  per-pair sum (numpy ``einsum``, no BLAS) and orders them by similarity, then row number,
  so ties are broken the same way too.
"""

from __future__ import annotations

import numpy as np

RESCORE_BLOCK = 256  # queries re-scored at once: 256 x candidates x dim floats


def inner_products(queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(n x m) float32 inner products of ``queries`` (n x d) with ``targets`` (m x d),
    each row independent of the others."""
    return (np.asarray(queries, np.float64) @ np.asarray(targets, np.float64).T).astype(np.float32)


def rescore(queries: np.ndarray, vectors: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` of each query's candidate ``rows`` (-1 for none) by exact similarity to
    ``vectors[rows]``, ordered by similarity and then row number; -1 rows come last with
    similarity -inf."""
    sims = np.full(rows.shape, -np.inf, np.float32)
    for start in range(0, len(rows), RESCORE_BLOCK):
        block = slice(start, start + RESCORE_BLOCK)
        found = rows[block]
        gathered = vectors[np.where(found >= 0, found, 0)]
        exact = np.einsum("nd,nsd->ns", np.asarray(queries[block], np.float32), gathered)
        sims[block] = np.where(found >= 0, exact, -np.inf)
    tie_break = np.where(rows >= 0, rows, np.iinfo(np.int64).max)
    order = np.lexsort((tie_break, -sims), axis=1)[:, :k]
    return np.take_along_axis(sims, order, axis=1), np.take_along_axis(rows, order, axis=1)
