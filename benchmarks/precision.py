"""Tags at a chosen precision, measured on a labelled dev file: for each target precision,
what `rtag tag --precision P` keeps of each facet's value (measured precision of the
kept values, coverage: the share of dev products whose value is kept), with fused votes
and, where the index has a reranker, with the reranker where it helped.

The thresholds come from the index alone (its leave-one-out tables, recorded by `rtag
index` and `rtag train-reranker`); the dev file is only scored. Each method is scored
once and its lists built exactly as ``Tagger.tag`` builds them (select, thresholds,
review flags); one full ``Tagger.tag`` call per method checks that.

    .venv/bin/python benchmarks/precision.py --index INDEX benchmarks/results/fashion/dev.csv [--targets 0.9,0.95,0.99] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from retrieval_tagger import answers
from retrieval_tagger.catalog import read_catalog, spec_from_manifest
from retrieval_tagger.pipeline import Tagger, TagOptions
from retrieval_tagger.tags import split_facet


def measure(tagger: Tagger, products, targets: list[float], rerank: bool) -> dict:
    """Per target: per facet and pooled, precision and coverage of the facet values kept."""
    started = time.perf_counter()
    scores, signal, items, _ = tagger.score(products, rerank=rerank)
    seconds = time.perf_counter() - started
    vocab = tagger.index.vocab
    out = {"products": len(items), "score_s": round(seconds, 1), "targets": {}}
    for target in targets:
        opts = TagOptions.from_kwargs(precision=target, rerank=rerank)
        picked, floor = tagger.select(scores, opts), tagger.thresholds(opts)
        per: dict[str, list[int]] = {facet: [0, 0, 0] for facet in vocab.facets}  # right kept, kept, judged
        for product, row, ok in zip(items, picked, signal):
            truth = {split_facet(t)[0]: t for t in product.tags if split_facet(t)[0]}
            tags = answers.tag_dicts(row, floor, vocab.tags) if ok and not product.problem else []
            for facet, true_tag in truth.items():
                if facet not in per:
                    continue
                per[facet][2] += 1
                given = [t for t in tags if split_facet(t["tag"])[0] == facet and not t.get("review")]
                if given:
                    per[facet][1] += 1
                    per[facet][0] += int(given[0]["tag"] == true_tag)
        total = np.sum(list(per.values()), axis=0)
        rows = {**per, "all facets": total.tolist()}
        out["targets"][f"{target:g}"] = {name: {"precision": r / k if k else None, "coverage": k / n if n else 0.0, "kept": int(k), "judged": int(n)}
                                         for name, (r, k, n) in rows.items()}
    return out


def check_against_tag(tagger: Tagger, products, target: float, rerank: bool) -> None:
    """The lists ``measure`` builds are those ``Tagger.tag`` returns."""
    opts = TagOptions.from_kwargs(precision=target, rerank=rerank)
    scores, signal, items, _ = tagger.score(products, rerank=rerank)
    picked, floor = tagger.select(scores, opts), tagger.thresholds(opts)
    for result, row, ok in zip(tagger.tag(products, precision=target, rerank=rerank), picked, signal):
        if ok and result.error is None:
            assert result.tags == answers.tag_dicts(row, floor, tagger.index.vocab.tags), result.id


def format_table(name: str, result: dict) -> list[str]:
    lines = [f"{name}: {result['products']} products scored in {result['score_s']} s"]
    targets = list(result["targets"])
    lines.append(f"{'facet':<16} " + "  ".join(f"{'P=' + t + ' prec':>12} {'cover':>6}" for t in targets))
    for facet in result["targets"][targets[0]]:
        cells = []
        for t in targets:
            row = result["targets"][t][facet]
            cells.append(f"{'-' if row['precision'] is None else format(row['precision'], '.4f'):>12} {row['coverage']:>6.4f}")
        lines.append(f"{facet:<16} " + "  ".join(cells))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dev", type=Path)
    parser.add_argument("--index", required=True)
    parser.add_argument("--targets", default="0.9,0.95,0.99")
    parser.add_argument("--check", type=int, default=300, help="products whose Tagger.tag output is checked against the measured lists")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    tagger = Tagger.load(args.index)
    spec = spec_from_manifest(tagger.index.manifest["catalog"]["columns"])
    products, _ = read_catalog(args.dev, spec, purpose="query", known_tags=tagger.index.vocab.tags)
    methods = {"fused": False} | ({"reranked where it helped": True} if tagger.reranks(TagOptions()) else {})
    results = {}
    for name, rerank in methods.items():
        check_against_tag(tagger, products[: args.check], targets[len(targets) // 2], rerank)
        results[name] = measure(tagger, products, targets, rerank)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, result in results.items():
        print("\n".join(format_table(name, result)) + "\n")


if __name__ == "__main__":
    main()
