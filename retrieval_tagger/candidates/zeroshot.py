"""Zero-shot scores: similarity of a product to the names of the tags.

Raw cosine similarities are not comparable across products, so within each group of
competing tags (the values of one facet, or all free tags) they are turned into a
distribution by a softmax at ``temperature``.
"""

from __future__ import annotations

import numpy as np

from retrieval_tagger.vocab import TagVocab


def tag_groups(vocab: TagVocab) -> list[np.ndarray]:
    """Column groups of competing tags: one per facet, plus one of all free tags."""
    groups = list(vocab.facets.values())
    if len(vocab.free):
        groups.append(vocab.free)
    return groups


def group_softmax(sims: np.ndarray, groups: list[np.ndarray], temperature: float) -> np.ndarray:
    """Softmax of ``sims`` (queries x tags) within each column group."""
    out = np.zeros_like(sims, dtype=np.float32)
    for cols in groups:
        sub = sims[:, cols] / max(temperature, 1e-6)
        sub = np.exp(sub - sub.max(axis=1, keepdims=True))
        out[:, cols] = sub / sub.sum(axis=1, keepdims=True)
    return out


def name_scores(query_vectors: np.ndarray, tag_vectors: np.ndarray, vocab: TagVocab, temperature: float) -> np.ndarray:
    """Zero-shot scores (queries x tags) of unit query vectors against unit tag vectors."""
    return group_softmax(query_vectors @ tag_vectors.T, tag_groups(vocab), temperature)
