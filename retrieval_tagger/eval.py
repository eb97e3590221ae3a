"""Metrics of tagging quality. Pure functions: ranked predictions and truths in, numbers out."""

from __future__ import annotations

import math

import numpy as np

from retrieval_tagger.vocab import TagVocab, split_facet

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


def facet_accuracy(scores: np.ndarray, vocab: TagVocab, truths: list[list[str]]) -> dict:
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


def format_report(metrics: dict) -> str:
    """A plain-text table of the metrics."""
    lines = [f"products evaluated: {metrics.get('evaluated', 0)}"]
    keys = [k for k in metrics if "@" in k]
    if keys:
        lines.append("  ".join(f"{k}={metrics[k]:.4f}" for k in keys))
    if metrics.get("facet_accuracy") is None:
        lines.append("facet accuracy: n/a (no facet:value tags in the truth)")
    else:
        lines.append(f"facet accuracy: {metrics['facet_accuracy']:.4f}")
        lines.append(f"{'facet':<20} {'accuracy':>9} {'count':>7}")
        for facet, row in metrics["facets"].items():
            lines.append(f"{facet:<20} {row['accuracy']:>9.4f} {row['count']:>7}")
    for example in metrics.get("examples", []):
        lines.append("")
        lines.append(f"{example['id']}: {example['text'][:70]}")
        lines.extend(_compare(example["predicted"], example["truth"]))
    return "\n".join(lines)


def _compare(predicted: list[str], truth: list[str]) -> list[str]:
    """Predicted tags beside the true ones: ok, or what the truth was."""
    true_by_facet = {split_facet(t)[0]: t for t in truth}
    lines = []
    for tag in predicted:
        facet, value = split_facet(tag)
        if tag in truth:
            mark = "ok"
        elif facet is not None and facet in true_by_facet:
            mark = f"wrong, true: {split_facet(true_by_facet[facet])[1]}"
        else:
            mark = "not in truth"
        lines.append(f"    {tag:<40} {mark}")
    return lines


def evaluate(tagger, products, ks=DEFAULT_KS, examples: int = 0, **options) -> dict:
    """Tag ``products`` (with their true tags) and score the result.

    Products whose id is in the index are left out of their own neighbours by default.
    With ``examples`` the first that many products' predictions and truths are included.
    """
    from retrieval_tagger.candidates.fuse import select

    options.setdefault("exclude_self", True)
    scores, _, items, _ = tagger.score(products, **options)
    truths = [p.tags for p in items]
    vocab = tagger.index.vocab
    # long enough for every facet's value, so examples show all of them; metrics cut at k
    picked = select(scores, vocab, top_n=max(*ks, len(vocab.facets), 10), exclusive=options.get("exclusive", True))
    ranked = [[vocab.tags[c] for c, _ in row] for row in picked]
    metrics = ranking_metrics(ranked, truths, ks)
    metrics.update(facet_accuracy(scores, vocab, truths))
    if examples:
        metrics["examples"] = [
            {"id": p.id, "text": p.text, "predicted": r, "truth": p.tags}
            for p, r in zip(items[:examples], ranked[:examples])
        ]
    return metrics
