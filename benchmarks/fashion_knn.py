"""Fashion benchmark of kNN voting: quality (text, image, fused) and throughput.

Splits ../shared/data/fashion by a hash of the id (90% catalog, 10% dev), indexes the
catalog with text and images, tunes k / temperature / fusion weights by leave-one-out
on a sample of the *catalog* (the dev split is only used for the final figures), then
prints dev metrics for text-only, image-only and fused voting, and throughput figures
next to the encoders' own throughput measured in the same run.

    .venv/bin/python benchmarks/fashion_knn.py [--root ../shared/data/fashion] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_split import split_bucket, split_rows, write_csv  # noqa: E402

from retrieval_tagger.candidates import fuse, knn  # noqa: E402
from retrieval_tagger.catalog import CatalogSpec, read_catalog  # noqa: E402
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder  # noqa: E402
from retrieval_tagger.eval import evaluate, facet_accuracy, format_report  # noqa: E402
from retrieval_tagger.index import store  # noqa: E402
from retrieval_tagger.index.build import build_index  # noqa: E402
from retrieval_tagger.pipeline import Tagger  # noqa: E402

FACETS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage"]
SPEC = CatalogSpec(text_cols=["productDisplayName"], image_col="image", facet_cols=FACETS)
GRID_K = (5, 10, 20, 30, 50)
GRID_T = (0.02, 0.05, 0.1, 1.0)
GRID_W = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def prepare(root: Path, work: Path, quick: bool) -> tuple[Path, Path]:
    catalog, dev = split_rows(root)
    if quick:  # a fixed 25% of each side, for a fast look
        catalog = [r for r in catalog if split_bucket(r["id"], "quick") < 25]
        dev = [r for r in dev if split_bucket(r["id"], "quick") < 25]
    columns = list(catalog[0])
    write_csv(work / "catalog.csv", catalog, columns)
    write_csv(work / "dev.csv", dev, columns)
    return work / "catalog.csv", work / "dev.csv"


def neighbours(tagger: Tagger, name: str, vectors: np.ndarray, ids: list[str], k_max: int):
    """Leave-one-out neighbours (similarities, product rows) of encoded sample products."""
    modality = tagger.index.modalities[name]
    sims, store_rows = store.search(modality.index, vectors, k_max + 1)
    rows = np.where(store_rows >= 0, modality.rows[np.maximum(store_rows, 0)], -1)
    self_rows = np.asarray([tagger.index.id_rows.get(i, -1) for i in ids])
    return knn.drop_self(sims, rows, self_rows, k_max)


def tune(tagger: Tagger, catalog_csv: Path, sample_percent: int) -> dict:
    """Grid search of k, temperature and text weight by leave-one-out on catalog products."""
    products, _ = read_catalog(catalog_csv, SPEC)
    sample = [p for p in products if split_bucket(p.id, "tune") < sample_percent and p.text and p.image]
    ids = [p.id for p in sample]
    text_nb = neighbours(tagger, "text", tagger.text_encoder.encode([p.text for p in sample]), ids, max(GRID_K))
    image_vecs, ok = tagger.image_encoder.encode_images([p.image for p in sample])
    image_nb = neighbours(tagger, "image", image_vecs, ids, max(GRID_K))
    present = {"text": np.ones(len(sample), bool), "image": ok}
    truths = [p.tags for p in sample]
    results = []
    for k, temp in itertools.product(GRID_K, GRID_T):
        votes = {}
        for name, (sims, rows) in (("text", text_nb), ("image", image_nb)):
            w = knn.neighbour_weights(sims[:, :k], rows[:, :k], temp)
            votes[name] = knn.vote(w, rows[:, :k], tagger.index.product_tags)
        for name in ("text", "image"):
            acc = facet_accuracy(votes[name], tagger.index.vocab, truths)["facet_accuracy"]
            results.append({"k": k, "temperature": temp, "modality": name, "facet_accuracy": acc})
        for wt in GRID_W:
            fused = fuse.fuse(votes, present, {"text": wt, "image": 1 - wt})
            acc = facet_accuracy(fused, tagger.index.vocab, truths)["facet_accuracy"]
            results.append({"k": k, "temperature": temp, "modality": "fused", "text_weight": wt, "facet_accuracy": acc})
    best = {m: max((r for r in results if r["modality"] == m), key=lambda r: r["facet_accuracy"]) for m in ("text", "image", "fused")}
    return {"sample": len(sample), "best": best, "grid": results}


def products_of(dev_csv: Path, with_images: bool):
    products, _ = read_catalog(dev_csv, SPEC, purpose="query")
    if not with_images:
        for p in products:
            p.image = None
    return [p for p in products if not p.problem]


def throughput(tagger: Tagger, dev_csv: Path, best: dict) -> dict:
    """Tagging products/s vs the encoders alone on the same products, and latency."""
    out = {}
    opts = {"k": best["k"], "temperature": best["temperature"], "weights": {"text": best["text_weight"], "image": 1 - best["text_weight"]}, "progress": False}
    for label, with_images in (("text", False), ("text+image", True)):
        products = products_of(dev_csv, with_images)
        t = time.perf_counter()
        tagger.text_encoder.encode([p.text for p in products if p.text], progress=False)
        if with_images:
            tagger.image_encoder.encode_images([p.image for p in products if p.image], progress=False)
        enc_s = time.perf_counter() - t
        t = time.perf_counter()
        tagger.tag(products, **opts)
        tag_s = time.perf_counter() - t
        latencies = []
        for p in products[:200]:
            t = time.perf_counter()
            tagger.tag([p], **opts)
            latencies.append((time.perf_counter() - t) * 1000)
        latencies.sort()
        out[label] = {
            "products": len(products),
            "encoders_products_per_s": len(products) / enc_s,
            "tag_products_per_s": len(products) / tag_s,
            "pipeline_share_of_encoder_speed": enc_s / tag_s,
            "time_outside_encoders": max(0.0, 1 - enc_s / tag_s),
            "latency_ms_p50": statistics.median(latencies),
            "latency_ms_p99": latencies[int(0.99 * (len(latencies) - 1))],
        }
    return out


def index_throughput(catalog_csv: Path, out_dir: Path, encoders) -> dict:
    """Build the index (text+image) and compare with the encoders alone on the same data."""
    t = time.perf_counter()
    man = build_index(catalog_csv, out_dir, SPEC, force=True, encoders=encoders)
    total = time.perf_counter() - t
    timings = man["build"]["timings"]
    enc = timings.get("encode_images_s", 0) + timings["encode_text_s"]
    return {
        "products": man["counts"]["products"],
        "index_products_per_s": man["counts"]["products"] / total,
        "encoders_products_per_s": man["counts"]["products"] / enc,
        "time_outside_encoders": 1 - enc / total,
        "seconds": total,
        "timings": timings,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fashion"))
    parser.add_argument("--work", default=str(Path(__file__).resolve().parent / "results" / "fashion"))
    parser.add_argument("--image-model", default="rtag-lite")
    parser.add_argument("--quick", action="store_true", help="use a fixed quarter of the data")
    parser.add_argument("--tune-percent", type=int, default=10, help="share of the catalog used for leave-one-out tuning")
    args = parser.parse_args(argv)
    root, work = Path(args.root), Path(args.work)
    if not (root / "styles.csv").is_file():
        print(f"error: no styles.csv under {root}: pass --root", file=sys.stderr)
        return 2
    os.environ.setdefault("RTAG_NO_PROGRESS", "1")
    catalog_csv, dev_csv = prepare(root, work, args.quick)
    encoders = (load_text_encoder("minilm"), load_image_encoder(args.image_model))
    report = {"machine": f"{platform.node()} {os.cpu_count()} cores, {platform.processor() or platform.machine()}", "image_model": args.image_model}
    report["index"] = index_throughput(catalog_csv, work / "index", encoders)
    print(f"index: {json.dumps(report['index'], indent=1)}", flush=True)
    tagger = Tagger(__import__("retrieval_tagger.index.reader", fromlist=["open_index"]).open_index(work / "index"), *encoders)
    tuned = tune(tagger, catalog_csv, args.tune_percent)
    report["tuning"] = {"sample": tuned["sample"], "best": tuned["best"]}
    print(f"tuning (leave-one-out on {tuned['sample']} catalog products): {json.dumps(tuned['best'], indent=1)}", flush=True)
    best = tuned["best"]["fused"]
    dev = products_of(dev_csv, True)
    report["dev"] = {}
    for label, modality_best, weights in (
        ("text-only", tuned["best"]["text"], {"text": 1.0, "image": 0.0}),
        ("image-only", tuned["best"]["image"], {"text": 0.0, "image": 1.0}),
        ("fused", best, {"text": best["text_weight"], "image": 1 - best["text_weight"]}),
    ):
        metrics = evaluate(tagger, dev, (1, 3, 5, 7), k=modality_best["k"], temperature=modality_best["temperature"], weights=weights, progress=False)
        report["dev"][label] = metrics
        print(f"\n== dev {label} (k={modality_best['k']}, T={modality_best['temperature']}, weights={weights})\n{format_report(metrics)}", flush=True)
    report["throughput"] = throughput(tagger, dev_csv, best)
    print(f"\nthroughput: {json.dumps(report['throughput'], indent=1)}")
    (work / "report.json").write_text(json.dumps(report, indent=1))
    print(f"\nwritten {work / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
