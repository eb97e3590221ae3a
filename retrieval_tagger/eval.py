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


def list_metrics(picked: list[list[tuple[int, float]]], vocab: TagVocab, truths: list[list[str]], ks=DEFAULT_KS,
                 similarity: np.ndarray | None = None) -> dict:
    """Ranking metrics of chosen (column, score) lists, facet accuracy of the facet values
    they chose, and with ``similarity`` their intra-list similarity at 5 (ILS@5)."""
    ranked = [[vocab.tags[c] for c, _ in row] for row in picked]
    out = ranking_metrics(ranked, truths, ks)
    out.update(facet_accuracy(picked_matrix(picked, (len(picked), len(vocab))), vocab, truths))
    if similarity is not None:
        out["ILS@5"] = intra_list_similarity([[c for c, _ in row] for row in picked], similarity, 5)
    return out


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
    from retrieval_tagger.pipeline import TagOptions

    options.setdefault("exclude_self", True)
    scores, _, items, _ = tagger.score(products, **options)
    truths = [p.tags for p in items]
    vocab = tagger.index.vocab
    # long enough for every facet's value, so examples show all of them; metrics cut at k
    opts = TagOptions.from_kwargs(**{**options, "top_n": max(*ks, len(vocab.facets), 10), "min_score": 0.0})
    picked = tagger.select(scores, opts)
    ranked = [[vocab.tags[c] for c, _ in row] for row in picked]
    metrics = ranking_metrics(ranked, truths, ks)
    # MMR may choose another value of a facet than the best-scoring one
    metrics.update(facet_accuracy(scores if opts.diversity >= 1 else picked_matrix(picked, scores.shape), vocab, truths))
    if examples:
        metrics["examples"] = [
            {"id": p.id, "text": p.text, "predicted": r, "truth": p.tags}
            for p, r in zip(items[:examples], ranked[:examples])
        ]
    return metrics


def compare(tagger, products, ks=DEFAULT_KS, diversity: float | None = None, **options) -> dict:
    """Methods side by side on the same products, encoded once: the most frequent value
    of each facet, text kNN voting alone, fused voting, and with a trained reranker:
    reranked, and reranked + MMR at ``diversity`` (lambda; default: the tagger's default).

    Returns method -> metrics (see :func:`list_metrics`), products left out of their own
    neighbours by default as in :func:`evaluate`.
    """
    from retrieval_tagger import mmr
    from retrieval_tagger.candidates.fuse import column_weights, select
    options.setdefault("exclude_self", True)
    lam = mmr.DEFAULT_LAMBDA if diversity is None else diversity
    vocab = tagger.index.vocab
    top_n = max(*ks, len(vocab.facets), 10)
    similarity = tagger.tag_similarity()
    text_only = column_weights({"text": 1.0}, vocab, ["text"])
    prior = np.asarray(vocab.counts, dtype=np.float32) / max(len(tagger.index.ids), 1)
    picks: dict[str, list] = {"most frequent value": [], "text kNN voting": [], "voting (fused)": []}
    if tagger.reranker is not None:
        picks.update({"reranked": [], f"reranked + MMR (lambda={lam:g})": []})
    truths: list[list[str]] = []
    for chunk, found, fused, self_rows in tagger.batch_signals(products, **options):
        truths += [p.tags for p in chunk]
        picks["most frequent value"] += select(np.tile(prior, (len(chunk), 1)), vocab, top_n)
        picks["text kNN voting"] += select(found.fused(text_only), vocab, top_n)
        picks["voting (fused)"] += select(fused, vocab, top_n)
        if tagger.reranker is not None:
            reranked = tagger.reranker.score(found, fused, self_rows)
            picks["reranked"] += select(reranked, vocab, top_n)
            picks[f"reranked + MMR (lambda={lam:g})"] += mmr.select(reranked, vocab, similarity, lam, top_n)
    return {name: list_metrics(picked, vocab, truths, ks, similarity) for name, picked in picks.items()}


def format_comparison(results: dict) -> str:
    """One table: a row per method, facet accuracy overall and per facet, ranking metrics."""
    first = next(iter(results.values()))
    facets = list(first.get("facets", {}))
    ranking = [k for k in first if k.startswith(("P@", "nDCG@"))] + [k for k in first if k.startswith("R@")][-1:] + ["ILS@5"]
    width = max(len(name) for name in results)
    header = f"{'method':<{width}}  {'facet acc':>9}  " + "  ".join(f"{f[:11]:>11}" for f in facets) + "  " + "  ".join(f"{k:>7}" for k in ranking)
    lines = [f"products evaluated: {first.get('evaluated', 0)}", header]
    for name, m in results.items():
        acc = "n/a" if m.get("facet_accuracy") is None else f"{m['facet_accuracy']:.4f}"
        per = "  ".join(f"{m['facets'].get(f, {}).get('accuracy', float('nan')):>11.4f}" for f in facets)
        lines.append(f"{name:<{width}}  {acc:>9}  {per}  " + "  ".join(f"{m.get(k, float('nan')):>7.4f}" for k in ranking))
    return "\n".join(lines)
