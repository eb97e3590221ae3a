"""Text backends on the CPU: torch float32 against ONNX Runtime int8, speed and quality.

Speed: texts/s of each backend on the dev titles and on long texts (8 catalog titles
joined, about 100 tokens, standing in for descriptions), timed in interleaved rounds in
one run; the best round counts. Quality: a text-only index of the catalog built with each
backend, its dev facet accuracy, and the int8 queries against the float32 index (mixed
backends, as when an index built on a GPU is queried on a CPU).

    .venv/bin/python benchmarks/text_backends.py [--catalog C] [--dev D] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from retrieval_tagger.catalog import CatalogSpec, read_catalog
from retrieval_tagger.encoders.registry import load_text_encoder
from retrieval_tagger.eval import evaluate
from retrieval_tagger.index.build import build_index
from retrieval_tagger.pipeline import Tagger

FACETS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage"]
SPEC = CatalogSpec(text_cols=["productDisplayName"], image_col=None, facet_cols=FACETS)
RESULTS = Path(__file__).resolve().parent / "results" / "fashion"
BACKENDS = ("torch", "onnx-int8")


def speed(encoders: dict, texts: list[str], rounds: int) -> dict:
    best = {name: float("inf") for name in encoders}
    for name, enc in encoders.items():  # warm-up
        enc.encode(texts[:256], progress=False)
    for _ in range(rounds):
        for name, enc in encoders.items():
            t = time.perf_counter()
            enc.encode(texts, progress=False)
            best[name] = min(best[name], time.perf_counter() - t)
    return {name: len(texts) / s for name, s in best.items()}


def quality(catalog: Path, dev_products: list, work: Path) -> dict:
    out = {}
    for backend in BACKENDS:
        folder = work / backend
        t = time.perf_counter()
        build_index(catalog, folder, SPEC, text_model="minilm", image_model="none", device="cpu", text_backend=backend, force=True, progress=False)
        built = time.perf_counter() - t
        metrics = evaluate(Tagger.load(folder, device="cpu", text_backend=backend), dev_products)
        out[backend] = {**accuracy(metrics), "index_s": built}
        print(f"{backend:10s} index built in {built:.1f}s; dev facet accuracy {metrics['facet_accuracy']:.4f}", flush=True)
    mixed = evaluate(Tagger.load(work / "torch", device="cpu", text_backend="onnx-int8"), dev_products)
    out["torch index, onnx-int8 queries"] = accuracy(mixed)
    return out


def accuracy(metrics: dict) -> dict:
    return {"facet_accuracy": metrics["facet_accuracy"], "facets": {f: v["accuracy"] for f, v in metrics["facets"].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", type=Path, default=RESULTS / "catalog.csv")
    ap.add_argument("--dev", type=Path, default=RESULTS / "dev.csv")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not args.catalog.is_file():
        sys.exit(f"{args.catalog} not found: run benchmarks/fashion_split.py first (needs ../shared/data/fashion)")
    catalog_products, _ = read_catalog(args.catalog, SPEC)
    dev_products, _ = read_catalog(args.dev, SPEC)
    titles = [p.text for p in dev_products]
    rng = random.Random(0)
    pool = [p.text for p in catalog_products]
    long_texts = [" ".join(rng.sample(pool, 8)) for _ in range(1000)]

    encoders = {b: load_text_encoder("minilm", "cpu", backend=b) for b in BACKENDS}
    report = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads", "speed": {}}
    print(f"# text backends, {report['machine']}; best of {args.rounds} interleaved rounds")
    for label, texts in (("titles", titles), ("long texts", long_texts)):
        rates = speed(encoders, texts, args.rounds)
        report["speed"][label] = rates
        print(f"{label:10s} ({len(texts)}): " + ", ".join(f"{b} {r:.0f}/s" for b, r in rates.items())
              + f"; onnx-int8 / torch = {rates['onnx-int8'] / rates['torch']:.2f}x", flush=True)
    sample = encoders["torch"].encode(titles[:2000], progress=False)
    cosine = (sample * encoders["onnx-int8"].encode(titles[:2000], progress=False)).sum(axis=1)
    report["cosine_to_float32"] = {"mean": float(cosine.mean()), "min": float(cosine.min())}
    print(f"cosine of int8 to float32 embeddings: mean {cosine.mean():.4f}, min {cosine.min():.4f}")
    if not args.skip_quality:
        with tempfile.TemporaryDirectory() as work:
            report["quality"] = quality(args.catalog, dev_products, Path(work))
        for name, row in report["quality"].items():
            print(f"{name:32s} {row['facet_accuracy']:.4f}  " + " ".join(f"{f} {row['facets'][f]:.3f}" for f in FACETS if f in row["facets"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
