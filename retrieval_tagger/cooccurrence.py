"""How often tags occur together in the catalog: counts, PMI and a tag-tag similarity.

The reranker asks whether a candidate tag goes with the product's other likely tags
(PMI); MMR asks how alike two tags are (see :mod:`retrieval_tagger.mmr`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

SMOOTHING = 0.5  # added to every count, so pairs never seen get a finite, low PMI


@dataclass
class Cooccurrence:
    """Catalog tag statistics: ``pairs[a, b]`` products tagged both a and b, ``counts[a]``
    products tagged a, ``n`` products. Dense (tags x tags): 100 MB at 5,000 tags."""

    pairs: np.ndarray
    counts: np.ndarray
    n: int

    @classmethod
    def from_product_tags(cls, product_tags: sparse.csr_matrix) -> "Cooccurrence":
        binary = (product_tags > 0).astype(np.float32)
        pairs = np.asarray((binary.T @ binary).todense(), dtype=np.float32)
        return cls(pairs, np.diag(pairs).copy(), int(product_tags.shape[0]))

    def pmi(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """log P(a, b) / (P(a) P(b)) for arrays of tag columns ``a`` and ``b`` (broadcast)."""
        s = SMOOTHING
        return (np.log(self.pairs[a, b] + s) + np.log(self.n + s) - np.log(self.counts[a] + s) - np.log(self.counts[b] + s)).astype(np.float32)

    def log_prior(self, a: np.ndarray) -> np.ndarray:
        """log P(a) of tag columns ``a``."""
        return np.log((self.counts[a] + SMOOTHING) / (self.n + SMOOTHING)).astype(np.float32)

    def similarity(self) -> np.ndarray:
        """(tags x tags) normalised PMI clipped to [0, 1]: 1 for tags that always occur together."""
        s = SMOOTHING
        joint = (self.pairs + s) / (self.n + s)
        pmi = np.log(joint) - np.log((self.counts[:, None] + s) / (self.n + s)) - np.log((self.counts[None, :] + s) / (self.n + s))
        npmi = pmi / np.maximum(-np.log(joint), 1e-6)
        return np.clip(npmi, 0.0, 1.0).astype(np.float32)
