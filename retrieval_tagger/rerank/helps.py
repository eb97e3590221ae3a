"""Where the reranker helps: per facet (and for the free tags), does the reranked best
value beat the fused one on the held-out ``report`` queries? And the score -> precision
tables of the reranked scores there, for `rtag tag --precision`.

Tagging then reranks only the facets where it helped (``use``); the others keep their
fused scores and the index's own tables. Pure functions over the training examples.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from retrieval_tagger import precision


def held_out(examples, reranker, n_tags: int, split: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense (queries x tags) fused scores, reranked probabilities and truth of one
    split's queries; tags that were not candidates score 0."""
    queries = np.flatnonzero(examples.split == split)
    rows = examples.rows_of(split)
    position = np.full(len(examples.split), -1, dtype=np.int64)
    position[queries] = np.arange(len(queries))
    at = (position[examples.query[rows]], examples.col[rows])

    def dense(values: np.ndarray) -> np.ndarray:
        return sparse.csr_matrix((values, at), shape=(len(queries), n_tags)).toarray().astype(np.float32)

    fused = dense(examples.x[rows, reranker.features.index("fused")])
    reranked = dense(reranker.probabilities(reranker.raw(examples.x[rows])))
    return fused, reranked, examples.truth[queries].toarray() > 0


def accuracy(scores: np.ndarray, truth: np.ndarray, vocab) -> dict[str, tuple[float, int]]:
    """Per facet (and :data:`precision.FREE`): share of the products with a true tag there
    whose best-scoring tag is true, and how many products that is."""
    out = {}
    for name, cols in precision.groups(vocab):
        best, right = precision.facet_picks(scores, truth, cols)
        out[name] = (float((right & (best > 0)).mean()) if len(best) else 0.0, int(len(best)))
    return out


def where_it_helps(fused: np.ndarray, reranked: np.ndarray, truth: np.ndarray, vocab) -> dict[str, dict]:
    """Per group: held-out accuracy fused and reranked, products judged, and whether to
    rerank it (``use``). Ties rerank: the reranked scores are calibrated probabilities."""
    before, after = accuracy(fused, truth, vocab), accuracy(reranked, truth, vocab)
    return {name: {"fused": round(before[name][0], 6), "reranked": round(after[name][0], 6), "judged": n,
                   "use": bool(after[name][0] >= before[name][0])}
            for name, (_, n) in before.items()}


def reranked_tables(reranked: np.ndarray, truth: np.ndarray, vocab) -> dict:
    """The score -> precision tables of the reranked scores (JSON, see precision.py)."""
    return precision.tables_to_json(precision.group_curves(reranked, truth, vocab), "reranked", len(reranked))
