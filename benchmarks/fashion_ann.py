"""Approximate stores on the real fashion index: recall@10 against exact search and the
change in dev tag accuracy.

Each store of the fashion index (text, image, colour) is rebuilt as hnsw, ivf and ivf-sq8
from its own vectors and swapped into the loaded index in memory, then the dev split is
tagged again with the same (cached) query embeddings. Recall@10 is measured with 2,000
catalog vectors as queries against the exact store. At 36k products ``auto`` keeps exact
search; this shows what approximation costs in tag quality at the default parameters.

    .venv/bin/python benchmarks/fashion_ann.py [--index benchmarks/results/fashion/index] [--dev D]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_knn import Cached, products_of  # noqa: E402

from retrieval_tagger.index import store  # noqa: E402
from retrieval_tagger.index.reader import Modality  # noqa: E402
from retrieval_tagger.jobs.evaluate import evaluate  # noqa: E402
from retrieval_tagger.pipeline import Tagger  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "fashion"


def recall_at_10(exact, approx, vectors: np.ndarray, sample: int = 2000) -> float:
    rng = np.random.default_rng(0)
    queries = vectors[rng.choice(len(vectors), min(sample, len(vectors)), replace=False)]
    _, truth = store.search(exact, queries, 10)
    _, found = store.search(approx, queries, 10)
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=RESULTS / "index")
    ap.add_argument("--dev", type=Path, default=RESULTS / "dev.csv")
    ap.add_argument("--types", default="hnsw,ivf,ivf-sq8")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tagger = Tagger.load(args.index, device="cpu", rerank=False)
    tagger.text_encoder = Cached(tagger.text_encoder)
    tagger.image_encoder = Cached(tagger.image_encoder)
    dev = products_of(args.dev, with_images=True)
    exact = dict(tagger.index.modalities)
    base = evaluate(tagger, dev)["facet_accuracy"]
    print(f"exact (flat)   dev facet accuracy {base:.4f}", flush=True)
    report = {"flat": {"facet_accuracy": base}}
    for kind in args.types.split(","):
        row = {"stores": {}}
        for name, modality in exact.items():
            vectors = store.stored_vectors(modality.index)
            t = time.perf_counter()
            index, params = store.build(vectors, kind)
            built = time.perf_counter() - t
            searcher = store.searcher(index, params)
            row["stores"][name] = {"params": params, "build_s": built, "recall@10": recall_at_10(modality.index, searcher, vectors)}
            tagger.index.modalities[name] = Modality(searcher, modality.rows)
        row["facet_accuracy"] = evaluate(tagger, dev)["facet_accuracy"]
        report[kind] = row
        stores = ", ".join(f"{n} recall@10 {s['recall@10']:.3f} (built {s['build_s']:.1f}s)" for n, s in row["stores"].items())
        print(f"{kind:14s} dev facet accuracy {row['facet_accuracy']:.4f} ({row['facet_accuracy'] - base:+.4f}); {stores}", flush=True)
        tagger.index.modalities.update(exact)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
