"""Fashion benchmark of the learned reranker, calibration and MMR, side by side with the
classic baselines on the same dev split.

Trains the reranker on the index of fashion_knn.py by leave-one-out on its own catalog
(the dev split is only scored, never used to fit anything), then prints one table of
methods (most frequent value, text kNN voting, fused voting, TF-IDF + logistic
regression, reranked, reranked + MMR), calibration error of the reranked scores, MMR's
accuracy vs intra-list similarity for lambda in [0, 1], and tagging throughput with and
without the reranker, measured in the same process (ratios; repeated).

    .venv/bin/python benchmarks/fashion_rerank.py [--root ../shared/data/fashion] [--skip-training]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import tags_of, tfidf_lr_scores  # noqa: E402
from fashion_knn import Cached, products_of  # noqa: E402
from fashion_split import split_rows  # noqa: E402

from retrieval_tagger import mmr  # noqa: E402
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder  # noqa: E402
from retrieval_tagger.index.reader import open_index  # noqa: E402
from retrieval_tagger.jobs.evaluate import compare, format_comparison  # noqa: E402
from retrieval_tagger.jobs.train_reranker import train_index  # noqa: E402
from retrieval_tagger.metrics import list_metrics  # noqa: E402
from retrieval_tagger.pipeline import Tagger  # noqa: E402
from retrieval_tagger.rerank.calibrate import expected_calibration_error  # noqa: E402
from retrieval_tagger.rerank.report import LAMBDAS  # noqa: E402
from retrieval_tagger.signals.fuse import select  # noqa: E402

KS = (1, 3, 5, 7)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict]:
    which = np.minimum((probs * bins).astype(np.int64), bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            out.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "count": int(sel.sum()),
                        "mean_score": float(probs[sel].mean()), "share_right": float(labels[sel].mean())})
    return out


def calibration(scores: np.ndarray, picked: list, vocab, truths: list[list[str]]) -> dict:
    """ECE of the chosen tags (what users see) and of every candidate that got a score."""
    truth_sets = [set(t) for t in truths]
    chosen = [(s, vocab.tags[c] in truth_sets[i]) for i, row in enumerate(picked) for c, s in row[: len(vocab.facets)]]
    probs, labels = np.asarray([c[0] for c in chosen]), np.asarray([c[1] for c in chosen], dtype=float)
    q, c = np.nonzero(scores > 0)
    all_labels = np.asarray([vocab.tags[cc] in truth_sets[qq] for qq, cc in zip(q, c)], dtype=float)
    return {
        "ece_chosen_tags": expected_calibration_error(probs, labels),
        "ece_all_candidates": expected_calibration_error(scores[q, c], all_labels),
        "chosen_tags": int(len(probs)),
        "reliability_chosen": reliability(probs, labels),
    }


def throughput(tagger: Tagger, dev, repeats: int) -> dict:
    """Products/s with and without the reranker, interleaved in one process."""
    tagger.tag(dev[:64], progress=False)
    tagger.tag(dev[:64], progress=False, rerank=False)
    runs = {"with": [], "without": []}
    for _ in range(repeats):
        for label, rerank in (("without", False), ("with", True)):
            t = time.perf_counter()
            tagger.tag(dev, progress=False, rerank=rerank)
            runs[label].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "products": len(dev),
        "repeats": repeats,
        "seconds": runs,
        "products_per_s_without": len(dev) / med["without"],
        "products_per_s_with": len(dev) / med["with"],
        "added_time": med["with"] / med["without"] - 1,
        "added_time_per_repeat": [w / wo - 1 for w, wo in zip(runs["with"], runs["without"])],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fashion"))
    parser.add_argument("--work", default=str(Path(__file__).resolve().parent / "results" / "fashion"))
    parser.add_argument("--skip-training", action="store_true", help="use the reranker an earlier run saved in the index")
    parser.add_argument("--throughput-products", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-baseline", action="store_true", help="leave TF-IDF + LR out of the table")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("RTAG_NO_PROGRESS", "1")
    work = Path(args.work)
    index_dir = work / "index"
    if not (index_dir / "manifest.json").is_file():
        print(f"error: no index at {index_dir}: run benchmarks/fashion_knn.py first", file=sys.stderr)
        return 2
    report = {"machine": f"{platform.node()} {os.cpu_count()} cores, {platform.processor() or platform.machine()}"}
    if not args.skip_training:
        t = time.perf_counter()
        info = train_index(index_dir, progress=False)
        report["training"] = {"seconds": time.perf_counter() - t, **{k: v for k, v in info.items() if k != "features"}}
        print(f"trained in {report['training']['seconds']:.0f}s: {info['rounds']} trees; held-out catalog queries: "
              f"{json.dumps(info['report']['ece'])}", flush=True)
        for lam, m in info["report"]["mmr"].items():
            print(f"  LOO lambda={lam}: P@5={m['P@5']:.4f} nDCG@5={m['nDCG@5']:.4f} ILS@5={m['ILS@5']:.4f} facet acc={m['facet_accuracy']:.4f}")
    encoders = (Cached(load_text_encoder("minilm")), Cached(load_image_encoder("rtag-lite")))
    tagger = Tagger(open_index(index_dir), *encoders)
    vocab = tagger.index.vocab
    dev = products_of(work / "dev.csv", True)
    truths = [p.tags for p in dev]

    results = compare(tagger, dev, KS)
    if not args.skip_baseline:
        catalog_rows, dev_rows = split_rows(args.root)
        t = time.perf_counter()
        lr_scores = tfidf_lr_scores(catalog_rows, dev_rows, vocab)
        lr = list_metrics(select(lr_scores, vocab, 10), vocab, [tags_of(r) for r in dev_rows], KS, tagger.tag_similarity())
        results = {**dict(list(results.items())[:3]), "TF-IDF + LR (titles)": lr, **dict(list(results.items())[3:])}
        report["lr_seconds"] = time.perf_counter() - t
    report["dev"] = results
    print(format_comparison(results), flush=True)

    scores, _, _, _ = tagger.score(dev, exclude_self=True, progress=False)
    picked = select(scores, vocab, 10)
    report["calibration"] = calibration(scores, picked, vocab, truths)
    print(f"calibration: {json.dumps({k: v for k, v in report['calibration'].items() if k != 'reliability_chosen'})}")
    for row in report["calibration"]["reliability_chosen"]:
        print(f"  {row}")
    similarity = tagger.tag_similarity()
    report["mmr_curve"] = {}
    for lam in LAMBDAS:
        m = list_metrics(mmr.select(scores, vocab, similarity, lam, 10), vocab, truths, KS, similarity)
        report["mmr_curve"][str(lam)] = m
        print(f"dev lambda={lam}: P@3={m['P@3']:.4f} P@5={m['P@5']:.4f} nDCG@5={m['nDCG@5']:.4f} ILS@5={m['ILS@5']:.4f} facet acc={m['facet_accuracy']:.4f}", flush=True)

    report["default_diversity"] = mmr.DEFAULT_LAMBDA
    out = work / ("rerank_report.json" if not args.skip_throughput else "rerank_report_quality.json")
    if args.skip_throughput:
        out.write_text(json.dumps(report, indent=1))
        print(f"written {out}")
        return 0
    plain = Tagger(tagger.index, *(e.encoder for e in encoders))
    sample = dev[: args.throughput_products]
    report["throughput"] = {"end_to_end": throughput(plain, sample, args.repeats), "encoders_cached": throughput(tagger, sample, args.repeats)}
    print(f"throughput: {json.dumps(report['throughput'], indent=1)}")
    out.write_text(json.dumps(report, indent=1))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
