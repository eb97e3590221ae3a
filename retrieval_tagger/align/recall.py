"""Retrieval recall between paired image and text embeddings.

Catalogs repeat titles ("Nike Men Black Shoes"), so a retrieved title counts as correct
when its text equals the query's, and likewise for images of products with that title.
"""

from __future__ import annotations

import numpy as np

KS = (1, 10)


def _recall(sims: np.ndarray, groups: np.ndarray, k: int) -> float:
    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return float((groups[top] == groups[:, None]).any(axis=1).mean())


def retrieval_recall(image_vecs: np.ndarray, text_vecs: np.ndarray, texts: list[str], ks=KS) -> dict:
    """Image->text and text->image recall@k of row-aligned unit vectors."""
    _, groups = np.unique(np.asarray(texts, dtype=object).astype(str), return_inverse=True)
    sims = image_vecs @ text_vecs.T
    out = {}
    for k in ks:
        out[f"i2t_r{k}"] = round(_recall(sims, groups, k), 4)
        out[f"t2i_r{k}"] = round(_recall(sims.T, groups, k), 4)
        out[f"mean_r{k}"] = round((out[f"i2t_r{k}"] + out[f"t2i_r{k}"]) / 2, 4)
    return out
