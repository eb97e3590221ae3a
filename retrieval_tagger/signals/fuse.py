"""Fuse per-signal scores and pick each product's tags (facet values exclude each other)."""

from __future__ import annotations

import numpy as np

from retrieval_tagger.signals.settings import FusionWeights
from retrieval_tagger.tags import TagSet


def column_weights(weights: FusionWeights, vocab: TagSet, signals) -> dict[str, np.ndarray]:
    """Per-tag weight of each of ``signals``: its default weight, or its facet's weight on
    the tags of a facet ``weights`` names (0 where a weighting leaves the signal out)."""
    out = {}
    for name in signals:
        col = np.full(len(vocab), float(weights.default.get(name, 0.0)), dtype=np.float32)
        for facet, facet_weights in weights.facets.items():
            if facet in vocab.facets:
                col[vocab.facets[facet]] = float(facet_weights.get(name, 0.0))
        out[name] = col
    return out


def fuse(scores: dict[str, np.ndarray], present: dict[str, np.ndarray], weights: dict) -> np.ndarray:
    """Weighted mean of signal scores, over the signals each product has.

    ``scores[s]`` is (queries x tags), ``present[s]`` a boolean per query, ``weights[s]``
    a scalar or a per-tag array. A product with only text is scored by its text signals,
    their weights renormalised.
    """
    names = list(scores)
    total = np.zeros_like(scores[names[0]])
    norm = np.zeros_like(total)
    for name in names:
        w = np.asarray(weights.get(name, 0.0), dtype=np.float32)
        w = present[name].astype(np.float32)[:, None] * (w[None, :] if w.ndim else w)
        total += w * scores[name]
        norm += w
    return total / np.where(norm > 0, norm, 1.0)


def facet_best(scores: np.ndarray, vocab: TagSet) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each facet, the best value's column and score per product."""
    best = {}
    for facet, cols in vocab.facets.items():
        sub = scores[:, cols]
        arg = np.argmax(sub, axis=1)
        best[facet] = (cols[arg], sub[np.arange(len(sub)), arg])
    return best


def choices(scores: np.ndarray, vocab: TagSet, top_n: int, exclusive: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The tags a product's list is chosen from, as (columns, scores), in no set order.

    With ``exclusive`` each facet offers its best value only, and the free tags their
    best ``top_n``; otherwise the best ``top_n`` of all tags.
    """
    if exclusive and vocab.facets:
        best = list(facet_best(scores, vocab).values())
        parts_cols = [cols for cols, _ in best]
        parts_scores = [vals for _, vals in best]
        if len(vocab.free):
            free = scores[:, vocab.free]
            m = min(top_n, free.shape[1])
            top = np.argpartition(-free, m - 1, axis=1)[:, :m]
            parts_cols.append(vocab.free[top])
            parts_scores.append(np.take_along_axis(free, top, axis=1))
        cand_cols = np.column_stack(parts_cols)
        cand_scores = np.column_stack(parts_scores)
    else:
        m = min(top_n, scores.shape[1])
        cand_cols = np.argpartition(-scores, m - 1, axis=1)[:, :m]
        cand_scores = np.take_along_axis(scores, cand_cols, axis=1)
    return cand_cols, cand_scores


def select(scores: np.ndarray, vocab: TagSet, top_n: int = 10, min_score: float = 0.0, exclusive: bool = True) -> list[list[tuple[int, float]]]:
    """Each product's tags as (column, score), best first.

    With ``exclusive`` each facet contributes its best value only; free tags compete
    on score. Tags scoring 0 or below ``min_score`` are left out.
    """
    n = scores.shape[0]
    cand_cols, cand_scores = choices(scores, vocab, top_n, exclusive)
    order = np.argsort(-cand_scores, axis=1, kind="stable")[:, :top_n]
    cand_cols = np.take_along_axis(cand_cols, order, axis=1)
    cand_scores = np.take_along_axis(cand_scores, order, axis=1)
    keep = (cand_scores > 0) & (cand_scores >= min_score)
    return [
        [(int(c), float(s)) for c, s, k in zip(cand_cols[i], cand_scores[i], keep[i]) if k]
        for i in range(n)
    ]
