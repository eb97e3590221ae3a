"""Fashion benchmark of kNN voting: quality (text, image, fused) and throughput.

Splits ../shared/data/fashion by a hash of the id (90% catalog, 10% dev), indexes the
catalog with text and images (the index fits k, temperatures and per-facet fusion
weights by leave-one-out on its own catalog; the dev split is never used for that), then
prints dev metrics for each signal alone and fused, and throughput figures next to the
encoders' own throughput measured in the same run.

    .venv/bin/python benchmarks/fashion_knn.py [--root ../shared/data/fashion] [--quick]
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
from fashion_split import split_bucket, split_rows, write_csv  # noqa: E402

from retrieval_tagger.build import BuildOptions, build_index  # noqa: E402
from retrieval_tagger.catalog import CatalogSpec, read_catalog  # noqa: E402
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder  # noqa: E402
from retrieval_tagger.index.reader import open_index  # noqa: E402
from retrieval_tagger.jobs.evaluate import evaluate, format_report  # noqa: E402
from retrieval_tagger.pipeline import Tagger  # noqa: E402

FACETS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage"]
SPEC = CatalogSpec(text_cols=["productDisplayName"], image_col="image", facet_cols=FACETS)


def prepare(root: Path, work: Path, quick: bool) -> tuple[Path, Path]:
    catalog, dev = split_rows(root)
    if quick:  # a fixed 25% of each side, for a fast look
        catalog = [r for r in catalog if split_bucket(r["id"], "quick") < 25]
        dev = [r for r in dev if split_bucket(r["id"], "quick") < 25]
    columns = list(catalog[0])
    write_csv(work / "catalog.csv", catalog, columns)
    write_csv(work / "dev.csv", dev, columns)
    return work / "catalog.csv", work / "dev.csv"


class Cached:
    """Memoises an encoder's outputs, so several fusion settings can be scored on the
    same dev products without encoding them again (benchmark only)."""

    def __init__(self, encoder):
        self.encoder, self.memo = encoder, {}
        for attr in ("spec", "dim", "checksum", "size", "text_space", "device"):
            if hasattr(encoder, attr):
                setattr(self, attr, getattr(encoder, attr))

    def encode(self, texts, **kw):
        missing = [t for t in dict.fromkeys(texts) if ("t", t) not in self.memo]
        if missing:
            for t, v in zip(missing, self.encoder.encode(missing, **kw)):
                self.memo[("t", t)] = v
        return np.stack([self.memo[("t", t)] for t in texts]) if texts else self.encoder.encode([])

    def encode_images_and_colours(self, paths, **kw):
        missing = [p for p in dict.fromkeys(paths) if ("i", p) not in self.memo]
        if missing:
            vecs, cols, ok = self.encoder.encode_images_and_colours(missing, **kw)
            for p, v, c, o in zip(missing, vecs, cols, ok):
                self.memo[("i", p)] = (v, c, o)
        got = [self.memo[("i", p)] for p in paths]
        return np.stack([g[0] for g in got]), np.stack([g[1] for g in got]), np.asarray([g[2] for g in got])

    def encoded_batches(self, paths, **kw):
        """The tagging pipeline's way in: all of ``paths`` as one batch."""
        return iter([self.encode_images_and_colours(paths, **kw)] if len(paths) else [])


def products_of(dev_csv: Path, with_images: bool):
    products, _ = read_catalog(dev_csv, SPEC, purpose="query")
    if not with_images:
        for p in products:
            p.image = None
    return [p for p in products if not p.problem]


def throughput(tagger: Tagger, dev_csv: Path, limit: int = 2000, repeats: int = 3) -> dict:
    """Tagging products/s vs the encoders alone on the same products, and latency.

    Each figure is the median of ``repeats`` runs: this shared 2-core machine varies by
    10% from run to run.
    """
    out = {}
    for label, with_images in (("text", False), ("text+image", True)):
        products = products_of(dev_csv, with_images)[:limit]
        tagger.tag(products[:64], progress=False)  # warm-up: first batches of each shape are slow
        enc_runs, tag_runs = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            tagger.text_encoder.encode([p.text for p in products if p.text], progress=False)
            if with_images:
                tagger.image_encoder.encode_images_and_colours([p.image for p in products if p.image], progress=False)
            enc_runs.append(time.perf_counter() - t)
            t = time.perf_counter()
            tagger.tag(products, progress=False)
            tag_runs.append(time.perf_counter() - t)
        enc_s, tag_s = statistics.median(enc_runs), statistics.median(tag_runs)
        latencies = []
        for p in products[:200]:
            t = time.perf_counter()
            tagger.tag([p], progress=False)
            latencies.append((time.perf_counter() - t) * 1000)
        latencies.sort()
        out[label] = {
            "products": len(products),
            "repeats": repeats,
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
    man = build_index(catalog_csv, out_dir, SPEC, BuildOptions(force=True), encoders=encoders)
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
    parser.add_argument("--throughput-only", action="store_true", help="reuse the index built by an earlier run and measure throughput only")
    args = parser.parse_args(argv)
    root, work = Path(args.root), Path(args.work)
    if not (root / "styles.csv").is_file():
        print(f"error: no styles.csv under {root}: pass --root", file=sys.stderr)
        return 2
    os.environ.setdefault("RTAG_NO_PROGRESS", "1")
    catalog_csv, dev_csv = prepare(root, work, args.quick)
    encoders = (load_text_encoder("minilm"), load_image_encoder(args.image_model))
    report = {"machine": f"{platform.node()} {os.cpu_count()} cores, {platform.processor() or platform.machine()}", "image_model": args.image_model}
    if args.throughput_only:
        tagger = Tagger(open_index(work / "index"), *encoders)
        report = {**json.loads((work / "report.json").read_text()), **report}
        report["throughput"] = throughput(tagger, dev_csv)
        print(f"throughput: {json.dumps(report['throughput'], indent=1)}")
        (work / "report.json").write_text(json.dumps(report, indent=1))
        return 0
    report["index"] = index_throughput(catalog_csv, work / "index", encoders)
    print(f"index: {json.dumps(report['index'], indent=1)}", flush=True)
    opened = open_index(work / "index")
    report["fusion"] = opened.manifest["fusion"]
    print(f"fitted fusion (leave-one-out on the catalog): {json.dumps(report['fusion']['fit'], indent=1)}", flush=True)
    cached = Tagger(opened, Cached(encoders[0]), Cached(encoders[1]))
    dev = products_of(dev_csv, True)
    report["dev"] = {}
    for label, weights in (
        ("text-only (MiniLM kNN)", {"text": 1.0}),
        ("image-only (trunk kNN)", {"image": 1.0}),
        ("colour-only (histogram kNN)", {"colour": 1.0}),
        ("names-only (zero-shot MiniLM)", {"names": 1.0}),
        ("mentions-only (tag values named in the title)", {"mentions": 1.0}),
        ("text+image, equal weights", {"text": 0.5, "image": 0.5}),
        ("fused, fitted per facet (default)", None),
    ):
        options = {"weights": weights} if weights else {}
        metrics = evaluate(cached, dev, (1, 3, 5, 7), progress=False, **options)
        report["dev"][label] = metrics
        print(f"\n== dev {label}\n{format_report(metrics)}", flush=True)
    tagger = Tagger(opened, *encoders)
    report["throughput"] = throughput(tagger, dev_csv)
    print(f"\nthroughput: {json.dumps(report['throughput'], indent=1)}")
    (work / "report.json").write_text(json.dumps(report, indent=1))
    print(f"\nwritten {work / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
