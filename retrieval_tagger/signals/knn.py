"""Neighbour votes: each of a product's k nearest catalog products votes for its tags
with a weight that grows with similarity (a softmax over the neighbours' similarities
at temperature ``temperature``). One signal per store of the index (text, image,
colour): :class:`KnnSignal`.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import sparse

from retrieval_tagger.index import store
from retrieval_tagger.signals.base import Candidates, Scored, Signal, input_of
from retrieval_tagger.signals.fit import FitSample, Fitted, micro_accuracy

GRID_K = (5, 10, 20, 40)
GRID_T = (0.02, 0.05, 0.1, 1.0)


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


def neighbour_stats(sims: np.ndarray, rows: np.ndarray, product_tags, position: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate: the share of the product's neighbours tagged with it, the best
    neighbour's similarity, and the best similarity among those tagged with it (NaN when
    none is).

    ``position[q, tag]`` is the tag's place in q's candidate list (of ``size``), or -1.
    """
    n, k = rows.shape
    q, j = np.nonzero(rows >= 0)
    r = rows[q, j]
    per = np.diff(product_tags.indptr)[r]
    starts = product_tags.indptr[r]
    # every (query, neighbour, tag) triple, as flat arrays
    q_t = np.repeat(q, per)
    j_t = np.repeat(j, per)
    offsets = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
    tags = product_tags.indices[np.repeat(starts, per) + offsets]
    c = position[q_t, tags]
    hit = c >= 0
    flat = q_t[hit] * size + c[hit]
    voters = np.bincount(flat, minlength=n * size).reshape(n, size).astype(np.float32) / max(k, 1)
    best = np.full(n * size, -np.inf, dtype=np.float32)
    np.maximum.at(best, flat, sims[q_t[hit], j_t[hit]])
    best = np.where(np.isfinite(best), best, np.nan).reshape(n, size)
    top = np.where(rows[:, :1] >= 0, sims[:, :1], np.nan) if k else np.full((n, 1), np.nan, np.float32)
    return voters, np.broadcast_to(top, (n, size)), best


def fit_knn(sims: np.ndarray, rows: np.ndarray, present: np.ndarray, product_tags: sparse.csr_matrix, groups, truth) -> tuple[dict, np.ndarray, float]:
    """Best (k, temperature) of one kNN signal on the sample's leave-one-out neighbours
    (``rows`` -1 where there is none), its votes and its accuracy on the ``present`` products."""
    best = None
    for k, temp in itertools.product(GRID_K, GRID_T):
        k = min(k, rows.shape[1])
        votes = vote(neighbour_weights(sims[:, :k], rows[:, :k], temp), rows[:, :k], product_tags)
        acc = micro_accuracy(votes[present], groups, truth[present])
        if best is None or acc > best[2]:
            best = ({"k": int(k), "temperature": temp}, votes, acc)
    return best


class KnnSignal(Signal):
    """Votes of the nearest catalog products in one store of the index; the signal is
    named after its store (text, image or colour) and reads the same-named input."""

    defaults = {"k": 20, "temperature": 0.05}
    options = ("k", "temperature")
    WEIGHTS = {"text": 0.5, "image": 0.2, "colour": 0.1}  # text neighbours are the strongest single signal on the fashion benchmark

    def __init__(self, name: str):
        super().__init__(name)
        self.inputs = frozenset({name})
        self.default_weight = self.WEIGHTS.get(name, 0.1)
        self.shortlists = name != "colour"  # colour histograms alone name no tags worth shortlisting

    def available(self, index) -> bool:
        return self.name in index.modalities

    def score(self, index, queries, params: dict, prepared, keep: bool) -> Scored:
        at, vectors = input_of(queries, self.name)
        n, n_tags = queries.n, len(index.vocab)
        if not len(at):  # a batch without this input still gets (n x 0) neighbours
            extras = {"sims": np.zeros((n, 0), np.float32), "rows": np.zeros((n, 0), np.int64)} if keep else {}
            return Scored(at, np.zeros((0, n_tags), np.float32), extras)
        modality = index.modalities[self.name]
        own = None if queries.self_rows is None else queries.self_rows[at]
        sims, rows = nearest(modality.index, modality.rows, vectors, params["k"], own)
        votes = vote(neighbour_weights(sims, rows, params["temperature"]), rows, index.product_tags)
        extras = {}
        if keep:
            extras["sims"] = np.full((n, sims.shape[1]), -np.inf, dtype=np.float32)
            extras["rows"] = np.full((n, rows.shape[1]), -1, dtype=np.int64)
            extras["sims"][at], extras["rows"][at] = sims, rows
        return Scored(at, votes, extras)

    def fit(self, index, sample: FitSample, prepared) -> Fitted:
        """(k, temperature) from the grid: the sample searched once for the most neighbours
        of the grid, each product left out of its own."""
        modality = index.modalities[self.name]
        present = sample.has[self.name]
        sims, rows = nearest(modality.index, modality.rows, sample.vectors[self.name], max(GRID_K), self_rows=sample.rows)
        rows[~present] = -1
        params, votes, acc = fit_knn(sims, rows, present, index.product_tags, sample.groups, sample.truth)
        return Fitted(params, votes, present, acc)

    def feature_names(self, index) -> list[str]:
        return [f"{self.name}_{what}" for what in ("vote", "rank", "voters", "best_sim", "top_sim")]

    def features(self, found, candidates: Candidates) -> dict[str, np.ndarray]:
        votes = candidates.gather(found.scores[self.name])
        extras = found.extras[self.name]
        voters, top, best = neighbour_stats(extras["sims"], extras["rows"], candidates.product_tags, candidates.position, candidates.cols.shape[1])
        s = self.name
        return {f"{s}_vote": votes, f"{s}_rank": candidates.ranks(votes), f"{s}_voters": voters, f"{s}_best_sim": best, f"{s}_top_sim": top}
