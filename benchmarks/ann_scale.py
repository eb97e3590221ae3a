"""Approximate search at scale: build time, memory, queries/s, latency and recall@10 of
rtag's index types on synthetic catalogs of 100k, 1M and 10M vectors.

Synthetic vectors are shaped like real product embeddings: each is a real MiniLM
embedding of a fashion catalog title (the benchmark's catalog index, ``text.faiss``) plus
Gaussian noise of a random strength, normalised; so the catalog has the clusters and near
duplicates of a real one, at any size. Queries come the same way from the dev titles,
which the catalog never saw. Recall@10 is measured against exact search over the same
vectors (the 10M set is generated chunk by chunk from fixed seeds, never held whole).

    .venv/bin/python benchmarks/ann_scale.py --sizes 100000,1000000 [--types hnsw,ivf,ivf-sq8] [--json OUT]

Memory is the index's serialised size (what it occupies in RAM once loaded) and the
process's peak RSS. Queries/s is a batch of queries on all cores; latency is one query at
a time (p50/p99), as a REST server would see it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from retrieval_tagger.index import store

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 500_000
NOISE = (0.25, 0.6)  # noise norm relative to the unit embedding, drawn per vector


def anchors(path: Path) -> np.ndarray:
    import faiss

    index = faiss.read_index(str(path))
    return index.reconstruct_n(0, index.ntotal)


def synth(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = base[rng.integers(0, len(base), n)]
    noise = rng.standard_normal(picks.shape, dtype=np.float32)
    noise *= (rng.uniform(*NOISE, size=(n, 1)) / np.sqrt(base.shape[1])).astype(np.float32)
    out = picks + noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def chunks(base: np.ndarray, n: int):
    for i, start in enumerate(range(0, n, CHUNK)):
        yield synth(base, min(CHUNK, n - start), seed=1000 + i)


def exact_top(base: np.ndarray, n: int, queries: np.ndarray, k: int) -> np.ndarray:
    """Row numbers of the exact top ``k`` over all chunks (merged as they come)."""
    import torch

    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_r = np.zeros((len(queries), k), np.int64)
    q = torch.from_numpy(queries)
    offset = 0
    for part in chunks(base, n):
        top = torch.topk(q @ torch.from_numpy(part).T, k, dim=1)
        s = np.concatenate([best_s, top.values.numpy()], axis=1)
        r = np.concatenate([best_r, top.indices.numpy() + offset], axis=1)
        order = np.argsort(-s, axis=1)[:, :k]
        best_s, best_r = np.take_along_axis(s, order, 1), np.take_along_axis(r, order, 1)
        offset += len(part)
    return best_r


def build(base: np.ndarray, n: int, kind: str):
    """The index ``kind`` over the synthetic catalog, built as rtag builds its stores."""
    if n <= CHUNK:
        return store.build(synth(base, n, seed=1000), kind)
    train = synth(base, min(n, store.TRAIN_SAMPLE), seed=999)
    index, params = store.empty(base.shape[1], n, kind, train)
    for part in chunks(base, n):
        index.add(part)
    return index, params


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def measure(index, params: dict, queries: np.ndarray, truth: np.ndarray, k: int, knob: int | None) -> dict:
    import faiss

    search = params.get("search", {})  # efSearch or nprobe
    if knob is not None and search:
        params = {**params, "search": {name: knob for name in search}}
    elif not search:
        knob = None
    searcher = store.searcher(index, params)
    store.search(searcher, queries[:200], k)  # warm-up
    t = time.perf_counter()
    _, rows = store.search(searcher, queries, k)
    qps = len(queries) / (time.perf_counter() - t)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    lat = []
    for q in queries[:500]:
        t = time.perf_counter()
        store.search(searcher, q[None], k)
        lat.append((time.perf_counter() - t) * 1000)
    faiss.omp_set_num_threads(threads)
    return {"knob": knob, "qps": qps, "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "recall@10": recall(rows, truth)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--types", default="auto")
    ap.add_argument("--knobs", default="", help="efSearch / nprobe values to sweep, e.g. 16,32,64 (default: the index's own)")
    ap.add_argument("--anchors", type=Path, default=RESULTS / "fashion" / "index" / "text.faiss")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not args.anchors.is_file():
        sys.exit(f"{args.anchors} not found: build the fashion index first (benchmarks/fashion_knn.py)")
    base = anchors(args.anchors)
    queries = synth(base, args.queries, seed=7)
    knobs = [int(k) for k in args.knobs.split(",") if k] or [None]
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        truth = exact_top(base, n, queries, 10)
        kinds = [store.choose_type(n)] if args.types == "auto" else args.types.split(",")
        for kind in kinds:
            t = time.perf_counter()
            index, params = build(base, n, kind)
            built = time.perf_counter() - t
            with tempfile.TemporaryDirectory() as tmp:
                store.save(index, Path(tmp) / "x.faiss")
                size = (Path(tmp) / "x.faiss").stat().st_size
            for knob in knobs if store.TYPES[kind].search else [None]:
                row = {"n": n, "type": kind, "params": params, "build_s": built, "bytes": size,
                       "bytes_per_vector": size / n, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                       **measure(index, params, queries, truth, 10, knob)}
                rows.append(row)
                print(f"{n:>9,} {kind:8s} knob {row['knob'] or '-':>4} build {built:7.1f}s  {size / 2**30:6.2f} GiB "
                      f"({row['bytes_per_vector']:.0f} B/vector)  {row['qps']:8.0f} q/s  p50 {row['p50_ms']:.2f} ms  "
                      f"p99 {row['p99_ms']:.2f} ms  recall@10 {row['recall@10']:.3f}  peak RSS {row['peak_rss_gb']:.1f} GB", flush=True)
            del index
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
