"""Scores of products against a stored vocabulary: calibrated zero-shot similarity,
blended with neighbour votes where the catalog has examples of a tag.

Zero-shot: in each space (product text vs tag text, product image vs tag text in the
image model's space) a similarity becomes a per-tag z-score against the tag's
distribution over the catalog's own products (no labels needed); the spaces a product
has are averaged. ``score = sigmoid(SLOPE * (z - CENTRE))`` maps the z-score to [0, 1]
the same way for every vocabulary, so ``--min-score`` means the same everywhere: 0.5 is
a product ``CENTRE`` standard deviations closer to the tag than the catalog's average.

Few-shot (``mode="auto"``): a tag with ``n`` tagged catalog examples gets
``w * votes + (1 - w) * zero-shot`` with ``w = n / (n + FEW_SHOT_PRIOR)``: frequent tags
lean on their neighbours' votes, rare and new ones on their names.
"""

from __future__ import annotations

import numpy as np

from retrieval_tagger.candidates.zeroshot import standardise

MODES = ("auto", "knn", "zeroshot")
CENTRE = 2.0
SLOPE = 1.5
FEW_SHOT_PRIOR = 5.0


def zero_shot_z(n: int, queries: dict, vectors: dict, stats: dict, weights: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fused per-tag z-scores (n x tags) and which products had any space.

    ``queries`` maps a space to ``(rows, unit vectors)`` of the products that have it.
    """
    n_tags = len(next(iter(vectors.values())))
    total = np.zeros((n, n_tags), dtype=np.float32)
    weight_sum = np.zeros(n, dtype=np.float32)
    for space, (rows, vecs) in queries.items():
        if space not in vectors or vecs is None or len(rows) == 0:
            continue
        w = 1.0 if weights is None else float(weights.get(space, 0.0))
        if w <= 0:
            continue
        z = standardise(vecs @ vectors[space].T, stats[space][0], stats[space][1])
        total[rows] += w * z
        weight_sum[rows] += w
    present = weight_sum > 0
    total[present] /= weight_sum[present, None]
    return total, present


def to_score(z: np.ndarray) -> np.ndarray:
    """Calibrated z-scores as scores in [0, 1], the same mapping for every vocabulary."""
    return (1.0 / (1.0 + np.exp(-SLOPE * (np.asarray(z, dtype=np.float32) - CENTRE)))).astype(np.float32)


def blend(zero_shot: np.ndarray, votes: np.ndarray | None, counts: np.ndarray, mode: str) -> np.ndarray:
    """Final scores for ``mode``: votes only, zero-shot only, or the few-shot blend."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "zeroshot" or votes is None:
        return zero_shot
    if mode == "knn":
        return votes
    w = (counts / (counts + FEW_SHOT_PRIOR)).astype(np.float32)
    return w[None, :] * votes + (1.0 - w[None, :]) * zero_shot
