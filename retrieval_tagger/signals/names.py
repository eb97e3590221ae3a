"""Zero-shot scores: similarity of a product to the names of the tags.

Raw cosine similarities are not comparable across products, so within each group of
competing tags (the values of one facet, or all free tags) they are turned into a
distribution by a softmax at ``temperature``.
"""

from __future__ import annotations

import numpy as np


def group_softmax(sims: np.ndarray, groups: list[np.ndarray], temperature: float) -> np.ndarray:
    """Softmax of ``sims`` (queries x tags) within each column group."""
    out = np.zeros_like(sims, dtype=np.float32)
    for cols in groups:
        sub = sims[:, cols] / max(temperature, 1e-6)
        sub = np.exp(sub - sub.max(axis=1, keepdims=True))
        out[:, cols] = sub / sub.sum(axis=1, keepdims=True)
    return out
