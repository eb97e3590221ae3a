"""Features of (product, candidate tag) pairs for the reranker, computed for a whole batch
with array operations: every array here is (products x candidates) or smaller.

The feature list depends only on which signals an index has (:func:`feature_names`), so
a saved reranker can check that it is given the features it was trained on. Each signal
gives its own features (``Signal.features``), in the registry's order; the features of
the fused scores and of the tags themselves follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval_tagger.cooccurrence import Cooccurrence
from retrieval_tagger.rerank.shortlist import shortlist
from retrieval_tagger.signals import registry
from retrieval_tagger.signals.base import Candidates
from retrieval_tagger.signals.compute import Signals
from retrieval_tagger.tags import tag_groups

CANDIDATES_PER_SIGNAL = 20
CANDIDATES_PER_GROUP = 3
FREE_CONTEXT = 3  # a free-tag vocabulary contributes its top 3 tags to the context
CATEGORICAL = ("facet",)
# after the signals' own features: those of the fused scores and of the tags themselves
OWN = ["fused", "fused_rank", "fused_margin", "log_prior", "facet", "group_size", "pmi_mean", "pmi_min"]


def feature_names(index) -> list[str]:
    """The features computed for ``index``: those of each signal it has, then :data:`OWN`."""
    names = []
    for name in registry.signals_of(index):
        names += registry.get(name).feature_names(index)
    return names + OWN


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
    shortlisted = [found.scores[s.name] for s in registry.signals() if s.shortlists and s.name in found.scores]
    cand, valid = shortlist(shortlisted, table.groups, fused, CANDIDATES_PER_SIGNAL, CANDIDATES_PER_GROUP)
    size = cand.shape[1]
    rows = np.arange(n)[:, None]
    group = table.group_of[cand]
    same_group = (group[:, :, None] == group[:, None, :]) & valid[:, None, :]
    position = np.full(fused.shape, -1, dtype=np.int64)
    position[rows, cand] = np.where(valid, np.arange(size)[None, :], -1)
    candidates = Candidates(cand, valid, same_group, position, index.product_tags)

    feats: dict[str, np.ndarray] = {}
    for signal in registry.signals():
        if signal.name in found.scores:
            feats.update(signal.features(found, candidates))
    f = candidates.gather(fused)
    feats["fused"], feats["fused_rank"] = f, candidates.ranks(f)
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
