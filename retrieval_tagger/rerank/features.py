"""Features of (product, candidate tag) pairs for the reranker, computed for a whole batch
with array operations: every array here is (products x candidates) or smaller.

The feature list depends only on which signals an index has (:func:`feature_names`), so
a saved reranker can check that it is given the features it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval_tagger.cooccurrence import Cooccurrence
from retrieval_tagger.rerank.shortlist import shortlist
from retrieval_tagger.signals.compute import KNN_SIGNALS, Signals
from retrieval_tagger.tags import tag_groups

CANDIDATES_PER_SIGNAL = 20
CANDIDATES_PER_GROUP = 3
FREE_CONTEXT = 3  # a free-tag vocabulary contributes its top 3 tags to the context
CATEGORICAL = ("facet",)


def feature_names(signals: list[str], image_names: bool) -> list[str]:
    """The features computed for an index with these signals (and image-space tag vectors)."""
    names = []
    for s in KNN_SIGNALS:
        if s in signals:
            names += [f"{s}_vote", f"{s}_rank", f"{s}_voters", f"{s}_best_sim", f"{s}_top_sim"]
    if "names" in signals:
        names += ["names_score", "names_rank", "name_sim"]
    if image_names:
        names.append("image_name_sim")
    if "mentions" in signals:
        names.append("mentions")
    return names + ["fused", "fused_rank", "fused_margin", "log_prior", "facet", "group_size", "pmi_mean", "pmi_min"]


@dataclass
class TagTable:
    """What the features need to know about the index's tags, computed once per index."""

    group_of: np.ndarray  # column -> group number: its facet's, in vocabulary order; free tags come last
    group_size: np.ndarray
    groups: list[np.ndarray]
    free_group: int  # group number of the free tags, -1 when there are none
    cooc: Cooccurrence
    product_tags: object = None
    _halves: dict | None = None

    def half(self, parity: int) -> Cooccurrence:
        """Statistics of the catalog rows with this parity (computed on first use)."""
        if self._halves is None:
            self._halves = {}
        if parity not in self._halves:
            self._halves[parity] = Cooccurrence.from_product_tags(self.product_tags[parity::2])
        return self._halves[parity]

    @classmethod
    def from_index(cls, index) -> "TagTable":
        vocab = index.vocab
        groups = tag_groups(vocab)
        group_of = np.zeros(len(vocab), dtype=np.int64)
        size = np.zeros(len(vocab), dtype=np.float32)
        for g, cols in enumerate(groups):
            group_of[cols], size[cols] = g, len(cols)
        free_group = len(groups) - 1 if len(vocab.free) else -1
        return cls(group_of, size, groups, free_group, Cooccurrence.from_product_tags(index.product_tags), index.product_tags)


def _ranks(values: np.ndarray, same_group: np.ndarray) -> np.ndarray:
    """Each candidate's rank (0 = best) among the real candidates of its group."""
    return (same_group & (values[:, None, :] > values[:, :, None])).sum(axis=2).astype(np.float32)


def _neighbour_stats(neighbours: tuple[np.ndarray, np.ndarray], product_tags, position: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: the share of the product's neighbours tagged with it, and the best
    similarity among them (NaN when none is).

    ``position[q, tag]`` is the tag's place in q's candidate list, or -1.
    """
    sims, rows = neighbours
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


@dataclass
class Batch:
    """Candidates of a batch and their features: ``x`` is (n x C x features)."""

    cand: np.ndarray
    valid: np.ndarray
    x: np.ndarray


def build(found: Signals, fused: np.ndarray, table: TagTable, index, names: list[str],
          self_rows: np.ndarray | None = None) -> Batch:
    """Candidates and features for a batch of products.

    ``found`` are the batch's signals (computed with ``similarities=True``), ``fused``
    their fused scores, ``names`` the feature list to produce. ``self_rows`` are the
    products' own catalog rows (-1: not in the catalog) when they were left out of their
    neighbours; see :func:`_statistics` for the tag statistics they get.
    """
    n = fused.shape[0]
    knn_scores = [found.scores[s] for s in ("text", "image", "names") if s in found.scores]
    cand, valid = shortlist(knn_scores, table.groups, fused, CANDIDATES_PER_SIGNAL, CANDIDATES_PER_GROUP)
    size = cand.shape[1]
    rows = np.arange(n)[:, None]
    group = table.group_of[cand]
    same_group = (group[:, :, None] == group[:, None, :]) & valid[:, None, :]
    position = np.full(fused.shape, -1, dtype=np.int64)
    position[rows, cand] = np.where(valid, np.arange(size)[None, :], -1)

    def gather(matrix: np.ndarray) -> np.ndarray:
        return np.take_along_axis(matrix, cand, axis=1)

    feats: dict[str, np.ndarray] = {}
    for s in KNN_SIGNALS:
        if f"{s}_vote" not in names:
            continue
        votes = gather(found.scores[s])
        feats[f"{s}_vote"], feats[f"{s}_rank"] = votes, _ranks(votes, same_group)
        nb = found.neighbours[s]
        feats[f"{s}_voters"], feats[f"{s}_top_sim"], feats[f"{s}_best_sim"] = _neighbour_stats(nb, index.product_tags, position, size)
    if "names_score" in names:
        zs = gather(found.scores["names"])
        feats["names_score"], feats["names_rank"] = zs, _ranks(zs, same_group)
        feats["name_sim"] = gather(found.name_sims) if found.name_sims is not None else np.full((n, size), np.nan, np.float32)
    if "image_name_sim" in names:
        feats["image_name_sim"] = gather(found.image_name_sims) if found.image_name_sims is not None else np.full((n, size), np.nan, np.float32)
    if "mentions" in names:
        feats["mentions"] = gather(found.scores["mentions"])
    f = gather(fused)
    feats["fused"], feats["fused_rank"] = f, _ranks(f, same_group)
    others = np.where(same_group & ~np.eye(size, dtype=bool)[None], f[:, None, :], -np.inf).max(axis=2)
    feats["fused_margin"] = f - np.where(np.isfinite(others), others, 0.0)
    feats["facet"] = group.astype(np.float32)
    feats["group_size"] = table.group_size[cand]
    feats["log_prior"] = np.zeros((n, size), np.float32)
    feats["pmi_mean"], feats["pmi_min"] = np.zeros((n, size), np.float32), np.zeros((n, size), np.float32)
    for at, cooc in _statistics(table, self_rows, n):
        feats["log_prior"][at] = cooc.log_prior(cand[at])
        feats["pmi_mean"][at], feats["pmi_min"][at] = _context_pmi(fused[at], cand[at], group[at], table, cooc)
    x = np.stack([feats[name] for name in names], axis=2).astype(np.float32)
    return Batch(cand, valid, x)


def _statistics(table: TagTable, self_rows: np.ndarray | None, n: int) -> list[tuple[np.ndarray, Cooccurrence]]:
    """Which tag statistics each product's features use: the whole catalog's, except for
    catalog products queried as themselves, which use the other half of the catalog.

    Taking a product's own tags out of the counts would not do: a true tag's count would
    then always be one lower than the same tag's count when it is wrong, and the trees
    learn that difference instead of anything that holds for new products.
    """
    if self_rows is None:
        return [(np.arange(n), table.cooc)]
    out = [(np.flatnonzero(self_rows < 0), table.cooc)]
    for parity in (0, 1):
        out.append((np.flatnonzero((self_rows >= 0) & (self_rows % 2 == parity)), table.half(1 - parity)))
    return [(at, cooc) for at, cooc in out if len(at)]


def _context_pmi(fused, cand, group, table: TagTable, cooc: Cooccurrence) -> tuple[np.ndarray, np.ndarray]:
    """Mean and lowest PMI of each candidate with the product's context: the best-scoring
    tag of every other group (and the top free tags), so a candidate that clashes with the
    product's likely category or gender is marked."""
    context, context_group = [], []
    for g, cols in enumerate(table.groups):
        m = FREE_CONTEXT if g == table.free_group else 1
        m = min(m, len(cols))
        top = cols[np.argpartition(-fused[:, cols], m - 1, axis=1)[:, :m]]
        context.append(top)
        context_group += [g] * m
    ctx = np.concatenate(context, axis=1)
    ctx_group = np.asarray(context_group)
    pmi = cooc.pmi(cand[:, :, None], ctx[:, None, :])
    # a facet's own best value is no context for its other values; a free tag is none for itself
    use = np.where(group[:, :, None] == table.free_group, ctx[:, None, :] != cand[:, :, None], ctx_group[None, None, :] != group[:, :, None])
    count = use.sum(axis=2)
    mean = np.where(count > 0, np.where(use, pmi, 0.0).sum(axis=2) / np.maximum(count, 1), np.nan)
    low = np.where(count > 0, np.where(use, pmi, np.inf).min(axis=2), np.nan)
    return mean.astype(np.float32), low.astype(np.float32)
