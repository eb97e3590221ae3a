"""Maximal marginal relevance: each next tag is the one most likely and least like the
tags already chosen.

At every step the chosen tag maximises ``lam * score - (1 - lam) * max similarity to the
chosen tags``; ``lam = 1`` is plain ranking by score, ``lam = 0`` picks the most likely
tag first and then always the least similar one. Facet exclusivity holds: each facet
offers its best value only. All products of a batch move through the steps together,
so the work is (products x candidates) per step.
"""

from __future__ import annotations

import numpy as np

from retrieval_tagger import tag_defaults
from retrieval_tagger.cooccurrence import Cooccurrence
from retrieval_tagger.signals.fuse import choices
from retrieval_tagger.tags import TagSet

EMBEDDING_SHARE = 0.5  # tag-tag similarity: half name-embedding cosine, half co-occurrence
DEFAULT_LAMBDA = tag_defaults.DIVERSITY  # lambda used when none is given (measured: see tag_defaults)
POOL = 3  # MMR chooses top_n tags among the best 3 x top_n (at least 30) free tags and facet values


def tag_similarity(tag_vectors: np.ndarray | None, cooc: Cooccurrence, embedding_share: float = EMBEDDING_SHARE) -> np.ndarray:
    """(tags x tags) similarity in [0, 1]: cosine of the tag names' embeddings (negative
    cosines count as 0) blended with normalised PMI of the tags in the catalog."""
    sim = cooc.similarity()
    if tag_vectors is not None and len(tag_vectors):
        cosine = np.clip(tag_vectors @ tag_vectors.T, 0.0, 1.0)
        sim = embedding_share * cosine + (1 - embedding_share) * sim
    np.fill_diagonal(sim, 1.0)
    return sim.astype(np.float32)


def select(scores: np.ndarray, vocab: TagSet, similarity: np.ndarray, lam: float, top_n: int = 10,
           min_score: float = 0.0, exclusive: bool = True) -> list[list[tuple[int, float]]]:
    """Each product's tags as (column, score) in the order MMR picks them.

    Same contract as :func:`retrieval_tagger.signals.fuse.select`, which this equals
    at ``lam = 1``: with ``exclusive`` each facet offers only its best value (MMR orders
    facets and free tags, it never swaps a facet's value for a less likely one), and
    tags scoring 0 or below ``min_score`` are never picked.
    """
    n = scores.shape[0]
    if n == 0 or scores.shape[1] == 0:
        return [[] for _ in range(n)]
    cand, rel = choices(scores, vocab, max(POOL * top_n, 30), exclusive)
    rel = rel.astype(np.float64)
    available = (rel > 0) & (rel >= min_score)
    rows = np.arange(n)
    closest = np.zeros_like(rel)
    picked = np.full((n, top_n), -1, dtype=np.int64)
    for step in range(top_n):
        value = np.where(available, lam * rel - (1 - lam) * closest, -np.inf)
        # ties (all of them at lam = 0 on the first step) go to the likelier tag
        pos = np.argmax(value + 1e-9 * rel, axis=1)
        ok = available[rows, pos]
        if not ok.any():
            break
        picked[ok, step] = pos[ok]
        available[rows, pos] = False
        closest = np.where(ok[:, None], np.maximum(closest, similarity[cand, cand[rows, pos][:, None]]), closest)
    return [
        [(int(cand[i, p]), float(rel[i, p])) for p in picked[i] if p >= 0]
        for i in range(n)
    ]
