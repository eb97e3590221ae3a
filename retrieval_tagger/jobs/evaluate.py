"""``rtag eval``'s work: tag labelled products with a :class:`Tagger` and score the tags
against their truth (metrics.py has the pure metric functions), one method at a time or
every method side by side, and format the results as text."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from retrieval_tagger import hierarchy, mmr, precision
from retrieval_tagger.errors import RtagError
from retrieval_tagger.metrics import (
    DEFAULT_KS,
    facet_accuracy,
    list_metrics,
    picked_matrix,
    ranking_metrics,
)
from retrieval_tagger.pipeline import TagOptions
from retrieval_tagger.signals.fuse import column_weights, select
from retrieval_tagger.signals.settings import FusionWeights
from retrieval_tagger.tags import split_facet


def format_report(metrics: dict) -> str:
    """A plain-text table of the metrics."""
    lines = [f"products evaluated: {metrics.get('evaluated', 0)}"]
    keys = [k for k in metrics if "@" in k]
    if keys:
        lines.append("  ".join(f"{k}={metrics[k]:.4f}" for k in keys))
    if metrics.get("facet_accuracy") is None:
        lines.append("free tags only (no facet:value tags in the truth): the tag metrics above measure it")
    else:
        lines.append(f"facet accuracy: {metrics['facet_accuracy']:.4f}")
        lines.append(f"{'facet':<20} {'accuracy':>9} {'count':>7}")
        for facet, row in metrics["facets"].items():
            lines.append(f"{facet:<20} {row['accuracy']:>9.4f} {row['count']:>7}")
    if "precision" in metrics:
        lines += format_precision(metrics["precision"])
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
    decoded = hierarchy.decode(scores, tagger.index.hierarchy)  # as select returns them: one path per tree
    metrics.update(facet_accuracy(decoded if opts.diversity >= 1 else picked_matrix(picked, scores.shape), vocab, truths))
    metrics["precision"] = at_precision(tagger, picked, items, opts.rerank)
    if examples:
        metrics["examples"] = [
            {"id": p.id, "text": p.text, "predicted": r, "truth": p.tags}
            for p, r in zip(items[:examples], ranked[:examples])
        ]
    return metrics


def at_precision(tagger, picked: list[list[tuple[int, float]]], items, rerank: bool = True) -> dict:
    """Per facet and for all facets together, at each of ``precision.TARGETS``: what the
    index's thresholds for that precision keep of the facet values chosen for ``items``
    (measured precision, coverage: the share of products whose value is kept), and each
    facet's precision–coverage curve on these products ({"error": why} without tables)."""
    vocab = tagger.index.vocab
    try:
        thresholds = {t: tagger.thresholds(TagOptions.from_kwargs(precision=t, min_score=0.0, rerank=rerank)) for t in precision.TARGETS}
    except RtagError as exc:
        return {"error": str(exc)}
    scores = picked_matrix(picked, (len(items), len(vocab)))
    indptr, indices = vocab.encode_lists([p.tags for p in items])
    truth = sparse.csr_matrix((np.ones(len(indices), bool), indices, indptr), shape=scores.shape).toarray()
    facets_of = [{split_facet(t)[0] for t in p.tags} for p in items]
    out: dict = {"targets": list(precision.TARGETS), "facets": {}, "curves": {}}
    pooled = []
    for facet, cols in vocab.facets.items():
        s, c = precision.facet_picks(scores, truth, cols, np.asarray([facet in f for f in facets_of], dtype=bool))
        out["facets"][facet] = {f"{t:g}": precision.kept(s, c, float(thresholds[t][cols[0]])) for t in precision.TARGETS}
        out["curves"][facet] = precision.curve(s, c).to_json()
        pooled.append((s, c, {t: thresholds[t][cols[0]] for t in precision.TARGETS}))
    if pooled:
        s, c = np.concatenate([p[0] for p in pooled]), np.concatenate([p[1] for p in pooled])
        out["all"] = {f"{t:g}": precision.kept(s, c, np.concatenate([np.full(len(p[0]), p[2][t]) for p in pooled])) for t in precision.TARGETS}
    return out


def format_precision(section: dict) -> list[str]:
    """The table of :func:`at_precision`: measured precision and coverage per facet at each target."""
    if "error" in section:
        return [f"coverage at a chosen precision: n/a ({section['error']})"]
    targets = [f"{t:g}" for t in section["targets"]]
    lines = ["coverage at a chosen precision (rtag tag --precision P: thresholds from the index's leave-one-out tables)",
             f"{'facet':<20} " + "  ".join(f"{'P=' + t + ' prec':>12} {'cover':>6}" for t in targets)]
    rows = [*section["facets"].items(), *([("all facets", section["all"])] if "all" in section else [])]
    for facet, row in rows:
        cells = []
        for t in targets:
            prec = row[t]["precision"]
            cells.append(f"{'-' if prec is None else f'{prec:.4f}':>12} {row[t]['coverage']:>6.4f}")
        lines.append(f"{facet:<20} " + "  ".join(cells))
    return lines


def compare(tagger, products, ks=DEFAULT_KS, diversity: float | None = None, **options) -> dict:
    """Methods side by side on the same products, encoded once: the most frequent value
    of each facet, text kNN voting alone, fused voting, and with a trained reranker:
    reranked, and reranked + MMR at ``diversity`` (lambda; default: the tagger's default).

    Returns method -> metrics (see :func:`list_metrics`), products left out of their own
    neighbours by default as in :func:`evaluate`.
    """
    options.setdefault("exclude_self", True)
    lam = mmr.DEFAULT_LAMBDA if diversity is None else diversity
    vocab = tagger.index.vocab
    top_n = max(*ks, len(vocab.facets), 10)
    similarity = tagger.tag_similarity()
    text_only = column_weights(FusionWeights({"text": 1.0}), vocab, ["text"])
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
