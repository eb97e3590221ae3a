"""Encoder backends on the CPU: torch against ONNX Runtime, speed and quality.

Text (MiniLM, torch float32 against ONNX Runtime int8). Speed: texts/s on the dev titles
and on long texts (8 catalog titles joined, about 100 tokens, standing in for
descriptions). Quality: a text-only index of the catalog built with each backend, its dev
facet accuracy, and int8 queries against the float32 index (mixed backends, as when an
index built on a GPU is queried on a CPU).

Image (rtag-lite, torch float32 channels-last against ONNX Runtime float32). Speed:
images/s from the dev photos (decode + forward) and forward only on a decoded batch.
Quality: the full fashion index (``--index``, built with torch) tagging dev with text and
photos, its image tower run by each backend.

Rates are the best of ``--rounds`` interleaved rounds in one run.

    .venv/bin/python benchmarks/backends.py [--catalog C] [--dev D] [--index I] [--rounds 3] [--json OUT]
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

from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import CatalogSpec, read_catalog
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder
from retrieval_tagger.jobs.evaluate import evaluate
from retrieval_tagger.pipeline import Tagger

FACETS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage"]
SPEC = CatalogSpec(text_cols=["productDisplayName"], image_col=None, facet_cols=FACETS)
PHOTO_SPEC = CatalogSpec(text_cols=["productDisplayName"], image_col="image", facet_cols=FACETS)
RESULTS = Path(__file__).resolve().parent / "results" / "fashion"
BACKENDS = ("torch", "onnx-int8")


def speed(tasks: dict, n_items: int, rounds: int) -> dict:
    """Items/s of each task (a function of no arguments), best of interleaved rounds."""
    best = {name: float("inf") for name in tasks}
    for task in tasks.values():  # warm-up
        task()
    for _ in range(rounds):
        for name, task in tasks.items():
            t = time.perf_counter()
            task()
            best[name] = min(best[name], time.perf_counter() - t)
    return {name: n_items / s for name, s in best.items()}


def forward(encoder, pixels):
    with torch.inference_mode():
        return encoder.tower(pixels)


def image_report(dev_csv: Path, index: Path | None, rounds: int) -> dict:
    dev_products, _ = read_catalog(dev_csv, PHOTO_SPEC, purpose="query")
    encoders = {b: load_image_encoder("rtag-lite", "cpu", backend=b) for b in ("torch", "onnx")}
    paths = [p.image for p in dev_products if p.image][:1000]
    out = {"from files": speed({b: (lambda e=e: e.encode_images(paths, progress=False)) for b, e in encoders.items()}, len(paths), rounds)}
    pixels = next(iter(encoders["torch"].batches(paths[:64], batch_size=64, workers=0)))[1]
    out["forward only"] = speed({b: (lambda e=e: forward(e, pixels)) for b, e in encoders.items()}, len(pixels), rounds)
    a, b = (encoders[k].encode_images(paths[:500], progress=False)[0] for k in ("torch", "onnx"))
    out["max_abs_difference"] = float(np.abs(a - b).max())
    for label in ("from files", "forward only"):
        rates = out[label]
        print(f"images, {label:12s}: " + ", ".join(f"{b} {r:.0f}/s" for b, r in rates.items()) + f"; onnx / torch = {rates['onnx'] / rates['torch']:.2f}x", flush=True)
    print(f"largest difference between the backends' embeddings: {out['max_abs_difference']:.2e}")
    if index is not None:
        for backend in ("torch", "onnx"):
            tagger = Tagger.load(index, device="cpu", rerank=False, text_backend="onnx-int8", image_backend=backend)
            acc = evaluate(tagger, dev_products)["facet_accuracy"]
            out[f"dev facet accuracy, image backend {backend}"] = acc
            print(f"full index (text + photos), image backend {backend:5s}: dev facet accuracy {acc:.4f}", flush=True)
    return out


def quality(catalog: Path, dev_products: list, work: Path) -> dict:
    out = {}
    for backend in BACKENDS:
        folder = work / backend
        t = time.perf_counter()
        build_index(catalog, folder, SPEC, BuildOptions(text_model="minilm", image_model="none", device="cpu", text_backend=backend, force=True, progress=False))
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
    ap.add_argument("--index", type=Path, default=RESULTS / "index", help="a text+image fashion index built with torch (fashion_knn.py)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-quality", action="store_true", help="speed only")
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
    print(f"# encoder backends, {report['machine']}; best of {args.rounds} interleaved rounds")
    for label, texts in (("titles", titles), ("long texts", long_texts)):
        rates = speed({b: (lambda e=e, texts=texts: e.encode(texts, progress=False)) for b, e in encoders.items()}, len(texts), args.rounds)
        report["speed"][label] = rates
        print(f"{label:10s} ({len(texts)}): " + ", ".join(f"{b} {r:.0f}/s" for b, r in rates.items())
              + f"; onnx-int8 / torch = {rates['onnx-int8'] / rates['torch']:.2f}x", flush=True)
    sample = encoders["torch"].encode(titles[:2000], progress=False)
    cosine = (sample * encoders["onnx-int8"].encode(titles[:2000], progress=False)).sum(axis=1)
    report["cosine_to_float32"] = {"mean": float(cosine.mean()), "min": float(cosine.min())}
    print(f"cosine of int8 to float32 embeddings: mean {cosine.mean():.4f}, min {cosine.min():.4f}")
    report["image"] = image_report(args.dev, None if args.skip_quality or not args.index.is_dir() else args.index, args.rounds)
    if not args.skip_quality:
        with tempfile.TemporaryDirectory() as work:
            report["quality"] = quality(args.catalog, dev_products, Path(work))
        for name, row in report["quality"].items():
            print(f"{name:32s} {row['facet_accuracy']:.4f}  " + " ".join(f"{f} {row['facets'][f]:.3f}" for f in FACETS if f in row["facets"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
