"""Neighbours' titles as a bridge from a product to tag names.

A photo is hard to compare with the words "Navy Blue" or "Casual Shoes" directly, but
the catalog products that look like it have titles, and titles compare well with tag
names. For each kNN store (text, image, colour) a product's neighbours' title vectors,
weighted as in voting, average into one "bridged" title vector that zero-shot scoring
treats like a title. Only titles are used, never tags, so tagging stays zero-shot.
"""

from __future__ import annotations

import numpy as np

from retrieval_tagger.index.store import stored_vectors
from retrieval_tagger.signals import knn


def catalog_titles(index) -> np.ndarray | None:
    """(products x dim) title vectors of the catalog, zero rows where a product has no text."""
    if "text" not in index.modalities:
        return None
    store = index.modalities["text"]
    vectors = np.asarray(stored_vectors(store.index), dtype=np.float32)
    out = np.zeros((len(index.ids), vectors.shape[1]), dtype=np.float32)
    out[store.rows] = vectors
    return out


def bridged(index, store: str, vectors: np.ndarray, titles: np.ndarray, k: int, temperature: float,
            self_rows: np.ndarray | None = None) -> np.ndarray:
    """Unit vectors: the similarity-weighted mean title of each query's ``k`` neighbours in ``store``."""
    modality = index.modalities[store]
    sims, rows = knn.nearest(modality.index, modality.rows, vectors, k, self_rows)
    weights = knn.neighbour_weights(sims, rows, temperature)
    mixed = np.einsum("qk,qkd->qd", weights, titles[np.maximum(rows, 0)] * (rows >= 0)[..., None])
    norms = np.linalg.norm(mixed, axis=1, keepdims=True)
    return mixed / np.maximum(norms, 1e-12)
