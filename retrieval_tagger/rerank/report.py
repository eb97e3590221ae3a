"""Figures of a trained reranker on its held-out ``report`` queries: facet accuracy and
ranking metrics of voting vs reranked, calibration error, and MMR's accuracy/diversity
trade-off. Pure functions over the examples; nothing is written."""

from __future__ import annotations

import numpy as np

from retrieval_tagger import mmr
from retrieval_tagger.metrics import list_metrics
from retrieval_tagger.rerank.calibrate import expected_calibration_error
from retrieval_tagger.signals.fuse import select

LAMBDAS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.0)
KS = (1, 3, 5, 7)


def _dense(examples, rows: np.ndarray, values: np.ndarray, queries: np.ndarray, n_tags: int) -> np.ndarray:
    position = np.full(len(examples.split), -1, dtype=np.int64)
    position[queries] = np.arange(len(queries))
    out = np.zeros((len(queries), n_tags), dtype=np.float32)
    out[position[examples.query[rows]], examples.col[rows]] = values
    return out


def held_out(examples, reranker, vocab, split: int = 2) -> dict:
    """Voting vs reranked (vs reranked + MMR at several lambdas) on one split's queries."""
    rows = examples.rows_of(split)
    queries = np.flatnonzero(examples.split == split)
    if len(queries) == 0:
        return {}
    prob = reranker.probabilities(reranker.raw(examples.x[rows]))
    truths = [[vocab.tags[c] for c in examples.truth[q].indices] for q in queries]
    fused = _dense(examples, rows, examples.x[rows, reranker.features.index("fused")], queries, len(vocab))
    reranked = _dense(examples, rows, prob, queries, len(vocab))
    top_n = max(10, len(vocab.facets))
    similarity = mmr.tag_similarity(reranker.index.vocab_vectors.get("text"), reranker.table.cooc)
    out = {"queries": int(len(queries)), "candidate_rows": int(len(rows))}
    out["voting"] = list_metrics(select(fused, vocab, top_n), vocab, truths, KS, similarity)
    picked = select(reranked, vocab, top_n)
    out["reranked"] = list_metrics(picked, vocab, truths, KS, similarity)
    chosen = np.asarray([[q, c] for q, row in enumerate(picked) for c, _ in row[: len(vocab.facets) or top_n]], dtype=np.int64).reshape(-1, 2)
    chosen_truth = np.asarray([vocab.tags[c] in truths[q] for q, c in chosen], dtype=np.float64)
    out["ece"] = {
        "all_candidates": expected_calibration_error(prob, examples.y[rows]),
        "chosen_tags": expected_calibration_error(reranked[chosen[:, 0], chosen[:, 1]], chosen_truth),
    }
    out["mmr"] = {
        str(lam): list_metrics(mmr.select(reranked, vocab, similarity, lam, top_n), vocab, truths, KS, similarity)
        for lam in LAMBDAS
    }
    return out
