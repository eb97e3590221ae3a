"""Throughput of the encoders alone against `rtag index` and `rtag tag` end to end, in one run.

On the same query products and in the same process it times: the text encoder alone
(texts/s), the image encoder alone from the image files (decode + forward, images/s) and
on batches decoded beforehand (forward only), both encoders one after the other
(products/s), then `rtag index` on a catalog subset and `rtag tag` on the queries end to
end through the Python API the CLI calls, and each end-to-end figure as a share of the
encoders' own speed. It also prints the facet accuracy of the tags `rtag tag` wrote
(top 10, min score 0.05) against the queries' true facets, so that a speed-up can be
checked for a loss of quality. Every timed figure is the median of ``--repeats`` runs.

    nice -n 19 .venv/bin/python benchmarks/throughput.py --catalog-size 2000 --queries 500 --json out.json

Defaults read benchmarks/results/fashion/{catalog,dev}.csv (see fashion_split.py).
More queries than the query file has are taken by cycling through it under new ids.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import CatalogSpec, Product, read_catalog
from retrieval_tagger.encoders.base import (
    cpu_cores,
    on_gpu,
    pick_device,
    text_batch_size,
)
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder
from retrieval_tagger.index.reader import open_index
from retrieval_tagger.metrics import list_metrics
from retrieval_tagger.pipeline import Tagger

HERE = Path(__file__).resolve().parent
FASHION_FACETS = "gender,masterCategory,subCategory,articleType,baseColour,season,usage"
# the acceptance targets of issue 6: end-to-end tagging as a share of the encoders' speed
TARGET_SHARE = {"cpu": 0.8, "cuda": 0.5}


def subset_catalog(source: Path, n: int, image_col: str | None, out: Path) -> Path:
    """The first ``n`` rows of a CSV catalog written to ``out``, image paths made absolute
    (a catalog's relative paths are relative to its own folder)."""
    with source.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns, rows = reader.fieldnames, [row for _, row in zip(range(n), reader)]
    if image_col:
        for row in rows:
            if row.get(image_col):
                row[image_col] = str((source.resolve().parent / row[image_col]).resolve())
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return out


def query_products(path: Path, spec: CatalogSpec, n: int) -> list[Product]:
    """The first ``n`` taggable products of a query file with their true tags; past the
    end of the file it starts again, under new ids."""
    products = [p for p in read_catalog(path, spec, purpose="query")[0] if not p.problem]
    if not products:
        raise SystemExit(f"error: {path} has no taggable products")
    out = []
    for i in range(n):
        product = products[i % len(products)]
        out.append(product if i < len(products) else replace(product, id=f"{product.id}~{i // len(products)}"))
    return out


def sync(device: str) -> None:
    """Wait for queued GPU work, so that a timer reads finished work."""
    if on_gpu(device):
        import torch

        torch.cuda.synchronize()


def interleaved(tasks: dict, repeats: int, device: str) -> dict[str, float]:
    """The median wall time of each task, run in rounds (every task once, then again), so
    that a slow spell of a shared machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(repeats):
        for name, run in tasks.items():
            sync(device)
            start = time.perf_counter()
            run()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def encoder_tasks(text_enc, image_enc, products: list[Product], device: str) -> dict:
    """What the encoders alone do for ``products``: text, images from their files, image
    forward passes on batches decoded beforehand, and text then images (products)."""
    import torch

    texts = [p.text for p in products if p.text]
    paths = [p.image for p in products if p.image] if image_enc is not None else []
    batch = text_batch_size(device)
    tasks = {"text": lambda: text_enc.encode(texts, batch_size=batch, progress=False)}
    if paths:
        decoded = [pixels for _, pixels, _, _ in image_enc.batches(paths, progress=False)]
        tower = getattr(image_enc, "tower", None) or image_enc.model.encode_image  # what the encoder runs per batch

        def forward():
            with torch.inference_mode():
                for pixels in decoded:
                    tower(pixels)

        tasks["images"] = lambda: image_enc.encode_images_and_colours(paths, progress=False)
        tasks["forward"] = forward
    text, images = tasks["text"], tasks.get("images")

    def both():
        text()
        if images is not None:
            images()

    tasks["encoders"] = both
    return tasks


def rates(tagger: Tagger, products: list[Product], repeats: int, device: str) -> tuple[dict, dict, list]:
    """The encoders' rates and `rtag tag` end to end (Tagger.tag, as the CLI calls it) on
    ``products``, timed in the same rounds, and the tag results."""
    tasks = encoder_tasks(tagger.text_encoder, tagger.image_encoder, products, device)
    results = []

    def tag():
        results[:] = tagger.tag(products, progress=False)

    tasks["tag"] = tag
    seconds = interleaved(tasks, repeats, device)
    texts, images = sum(1 for p in products if p.text), sum(1 for p in products if p.image)
    encoders = {"texts": texts, "images": images, "text_per_s": texts / seconds["text"], "products_per_s": len(products) / seconds["encoders"]}
    if "images" in seconds:
        encoders.update(images_per_s=images / seconds["images"], forward_images_per_s=images / seconds["forward"])
    tagged = {"products": len(products), "products_per_s": len(products) / seconds["tag"], "failed": sum(1 for r in results if r.error)}
    return encoders, tagged, results


def warm_up(text_enc, image_enc, products: list[Product]) -> None:
    """The first calls of a model are slow (memory, kernels chosen, lazy imports): make them untimed."""
    text_enc.encode([p.text for p in products if p.text], progress=False)
    if image_enc is not None:
        image_enc.encode_images_and_colours([p.image for p in products if p.image], progress=False)


def index_rate(catalog_csv: Path, out: Path, spec: CatalogSpec, encoders: tuple, device: str) -> dict:
    """`rtag index` end to end (the function the CLI calls), with its own stage timings."""
    sync(device)
    start = time.perf_counter()
    man = build_index(catalog_csv, out, spec, BuildOptions(force=True, device=device, progress=False), encoders=encoders)
    seconds = time.perf_counter() - start
    n = man["counts"]["products"]
    return {"products": n, "seconds": seconds, "products_per_s": n / seconds, "timings": man["build"]["timings"]}


def tag_quality(results, products: list[Product], vocab) -> dict:
    """Facet accuracy (and P@k) of the tags written, against the products' true tags."""
    picked = [[(vocab.index[t["tag"]], t["score"]) for t in r.tags if t["tag"] in vocab.index] for r in results]
    metrics = list_metrics(picked, vocab, [p.tags for p in products])
    return {k: v for k, v in metrics.items() if k in ("evaluated", "facet_accuracy", "facets", "P@1", "P@5")}


def machine(device: str) -> dict:
    import torch

    info = {"host": platform.node(), "cpu_cores": cpu_cores(), "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__, "device": device,
            "load_average_at_start": os.getloadavg()[0]}
    if on_gpu(device):
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def measure(catalog: Path, queries: Path, catalog_size: int, n_queries: int, device: str, text_model: str,
            image_model: str, spec: CatalogSpec, repeats: int, work: Path, text_backend: str | None = None,
            image_backend: str | None = None) -> dict:
    """Every figure of this benchmark, measured in one run, as a JSON-ready dict."""
    text_enc, image_enc = load_text_encoder(text_model, device, text_backend), load_image_encoder(image_model, device, image_backend)
    report = {"machine": machine(device), "text_model": text_model, "text_backend": getattr(text_enc, "backend", None),
              "image_model": image_model, "image_backend": getattr(image_enc, "backend", None), "repeats": repeats}
    products = query_products(queries, spec, n_queries)
    if image_enc is None:
        products = [replace(p, image=None) for p in products]
    subset = subset_catalog(catalog, catalog_size, spec.image_col, work / "catalog.csv")
    warm_up(text_enc, image_enc, products[:64])
    report["index"] = index_rate(subset, work / "index", spec, (text_enc, image_enc), device)
    tagger = Tagger(open_index(work / "index", device=device), text_enc, image_enc)
    tagger.tag(products[:64], progress=False)  # the first search and fusion of each shape are slow too
    report["encoders"], report["tag"], results = rates(tagger, products, repeats, device)
    report["quality"] = tag_quality(results, products, tagger.index.vocab)
    enc = report["encoders"]["products_per_s"]
    report["share_of_encoder_speed"] = {"tag": report["tag"]["products_per_s"] / enc, "index": report["index"]["products_per_s"] / enc}
    report["target_share"] = TARGET_SHARE["cuda" if on_gpu(device) else "cpu"]
    report["machine"]["load_average_at_end"] = os.getloadavg()[0]
    return report


def format_table(report: dict) -> str:
    """The figures as a plain-text table."""
    enc, idx, tag = report["encoders"], report["index"], report["tag"]
    rows = [("text encoder alone", enc["texts"], enc["text_per_s"], "texts/s")]
    if "images_per_s" in enc:
        rows += [("image encoder alone, decode + forward", enc["images"], enc["images_per_s"], "images/s"),
                 ("image encoder alone, forward only", enc["images"], enc["forward_images_per_s"], "images/s")]
    rows += [("encoders together", tag["products"], enc["products_per_s"], "products/s"),
             ("rtag index, end to end", idx["products"], idx["products_per_s"], "products/s"),
             ("rtag tag, end to end", tag["products"], tag["products_per_s"], "products/s")]
    m = report["machine"]
    lines = [f"{m['host']}: {m['cpu_cores']} cores, device {m['device']}{' (' + m['gpu'] + ')' if 'gpu' in m else ''}, "
             f"torch {m['torch']}, load average {m['load_average_at_start']:.2f} -> {m['load_average_at_end']:.2f}",
             f"models: text {report['text_model']} ({report['text_backend'] or 'no backend'}), image {report['image_model']} ({report['image_backend'] or 'no backend'}); median of {report['repeats']} runs",
             f"{'what':<40} {'items':>7} {'per second':>11}"]
    lines += [f"{name:<40} {n:>7} {rate:>11.1f} {unit}" for name, n, rate, unit in rows]
    share = report["share_of_encoder_speed"]
    timings = ", ".join(f"{k} {v:.2f}" for k, v in idx["timings"].items())
    lines += [f"tag / encoders: {share['tag']:.2f} (target >= {report['target_share']}); index / encoders: {share['index']:.2f} (index stages, s: {timings})"]
    quality = report["quality"]
    lines.append(f"tagged queries: facet accuracy {quality['facet_accuracy']:.4f}, P@1 {quality['P@1']:.4f} over {quality['evaluated']} products "
                 f"({report['tag']['failed']} untaggable)")
    lines.append("  " + ", ".join(f"{f} {row['accuracy']:.3f}" for f, row in quality["facets"].items()))
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--catalog", type=Path, default=HERE / "results" / "fashion" / "catalog.csv", help="tagged catalog CSV to index")
    p.add_argument("--queries-file", type=Path, default=HERE / "results" / "fashion" / "dev.csv", help="CSV of products to tag, with their true facets")
    p.add_argument("--catalog-size", type=int, default=2000, help="index the first N catalog rows")
    p.add_argument("--queries", type=int, default=500, help="tag N query products")
    p.add_argument("--device", default=None, help="cpu or cuda [default: cuda when available]")
    p.add_argument("--text-model", default="minilm")
    p.add_argument("--text-backend", default=None, help="auto, torch or onnx-int8 (see encoders/registry.py) [default: auto]")
    p.add_argument("--image-model", default="rtag-lite")
    p.add_argument("--image-backend", default=None, help="auto, torch or onnx (see encoders/registry.py) [default: auto]")
    p.add_argument("--no-images", action="store_true", help="text only (no image encoder)")
    p.add_argument("--text-cols", default="productDisplayName")
    p.add_argument("--image-col", default="image")
    p.add_argument("--facet-cols", default=FASHION_FACETS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("RTAG_NO_PROGRESS", "1")
    device = pick_device(args.device)
    spec = CatalogSpec(text_cols=args.text_cols.split(","), image_col=None if args.no_images else args.image_col,
                       facet_cols=args.facet_cols.split(","))
    for path in (args.catalog, args.queries_file):
        if not path.is_file():
            print(f"error: {path} not found (benchmarks/fashion_split.py writes the fashion split)", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="rtag-throughput-") as work:
        report = measure(args.catalog, args.queries_file, args.catalog_size, args.queries, device, args.text_model,
                         "none" if args.no_images else args.image_model, spec, args.repeats, Path(work), args.text_backend, args.image_backend)
    print(format_table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
        print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
