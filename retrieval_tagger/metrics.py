"""Metrics of tagging quality. Pure functions: ranked predictions and truths in, numbers out."""

from __future__ import annotations

import math

import numpy as np

from retrieval_tagger.tags import TagSet, split_facet

DEFAULT_KS = (1, 3, 5)


def ranking_metrics(ranked: list[list[str]], truths: list[list[str]], ks=DEFAULT_KS) -> dict:
    """P@k, R@k, F1@k and nDCG@k (binary relevance), averaged over products with truths."""
    pairs = [(r, set(t)) for r, t in zip(ranked, truths) if t]
    out: dict[str, float] = {"evaluated": len(pairs)}
    if not pairs:
        return out
    for k in ks:
        p = r = f = nd = 0.0
        for preds, truth in pairs:
            hits = [1.0 if tag in truth else 0.0 for tag in preds[:k]]
            n_hit = sum(hits)
            prec, rec = n_hit / k, n_hit / len(truth)
            p += prec
            r += rec
            f += 0.0 if n_hit == 0 else 2 * prec * rec / (prec + rec)
            dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
            ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(truth))))
            nd += dcg / ideal
        n = len(pairs)
        out.update({f"P@{k}": p / n, f"R@{k}": r / n, f"F1@{k}": f / n, f"nDCG@{k}": nd / n})
    return out


def facet_accuracy(scores: np.ndarray, vocab: TagSet, truths: list[list[str]]) -> dict:
    """For each true ``facet:value``, is the highest-scoring value of that facet right?

    Returns overall accuracy (micro, over all true facet tags) and a per-facet table.
    A true value unknown to the index counts as wrong.
    """
    best = {}
    for facet, cols in vocab.facets.items():
        best[facet] = cols[np.argmax(scores[:, cols], axis=1)] if len(scores) else np.zeros(0, np.int64)
    per: dict[str, list[int]] = {}
    for row, truth in enumerate(truths):
        for tag in truth:
            facet, _ = split_facet(tag)
            if facet is None:
                continue
            hit = facet in best and scores[row, best[facet][row]] > 0 and vocab.tags[best[facet][row]] == tag
            counts = per.setdefault(facet, [0, 0])
            counts[0] += int(hit)
            counts[1] += 1
    total_hit = sum(c[0] for c in per.values())
    total = sum(c[1] for c in per.values())
    return {
        "facet_accuracy": total_hit / total if total else None,
        "facets": {f: {"accuracy": c[0] / c[1], "count": c[1]} for f, c in sorted(per.items())},
    }


def intra_list_similarity(picked: list[list[int]], similarity: np.ndarray, k: int = 5) -> float:
    """Mean pairwise similarity of the first ``k`` tags of each list (tag columns), over
    lists of at least two: lower means more varied lists."""
    total, count = 0.0, 0
    for cols in picked:
        cols = np.asarray(cols[:k], dtype=np.int64)
        if len(cols) < 2:
            continue
        sub = similarity[np.ix_(cols, cols)]
        total += float((sub.sum() - np.trace(sub)) / (len(cols) * (len(cols) - 1)))
        count += 1
    return total / count if count else 0.0


def picked_matrix(picked: list[list[tuple[int, float]]], shape: tuple[int, int]) -> np.ndarray:
    """The chosen tags' scores in an otherwise empty matrix: :func:`facet_accuracy` then
    reads the value each list chose for each facet (none chosen counts as wrong)."""
    out = np.zeros(shape, dtype=np.float32)
    for i, row in enumerate(picked):
        for c, s in row:
            out[i, c] = max(s, 1e-9)
    return out


def list_metrics(picked: list[list[tuple[int, float]]], vocab: TagSet, truths: list[list[str]], ks=DEFAULT_KS,
                 similarity: np.ndarray | None = None) -> dict:
    """Ranking metrics of chosen (column, score) lists, facet accuracy of the facet values
    they chose, and with ``similarity`` their intra-list similarity at 5 (ILS@5)."""
    ranked = [[vocab.tags[c] for c, _ in row] for row in picked]
    out = ranking_metrics(ranked, truths, ks)
    out.update(facet_accuracy(picked_matrix(picked, (len(picked), len(vocab))), vocab, truths))
    if similarity is not None:
        out["ILS@5"] = intra_list_similarity([[c for c, _ in row] for row in picked], similarity, 5)
    return out
