"""Input resolution of rtag-lite: image-only kNN quality against images/s.

Encodes a fixed 10% of the fashion catalog and dev split (by id hash) at several input
resolutions, tags the dev products from their image neighbours alone, and prints facet
accuracy next to the encoder's images/s on this machine. The default resolution of
rtag-lite (encoders/lite.py) was picked from this table.

    .venv/bin/python benchmarks/resolution_sweep.py [--root ../shared/data/fashion] [--sizes 96,128,160,224]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_split import split_bucket, split_rows  # noqa: E402

from retrieval_tagger.encoders.registry import load_image_encoder  # noqa: E402
from retrieval_tagger.index import store  # noqa: E402
from retrieval_tagger.metrics import facet_accuracy  # noqa: E402
from retrieval_tagger.signals import knn  # noqa: E402
from retrieval_tagger.tags import TagSet  # noqa: E402

FACETS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage"]


def tags_of(row: dict) -> list[str]:
    return [f"{f}:{row[f]}" for f in FACETS if row[f]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fashion"))
    parser.add_argument("--sizes", default="96,128,160,224")
    parser.add_argument("--percent", type=int, default=10, help="share of each split used")
    args = parser.parse_args(argv)
    os.environ.setdefault("RTAG_NO_PROGRESS", "1")
    catalog, dev = split_rows(args.root)
    catalog = [r for r in catalog if r["image"] and split_bucket(r["id"], "sweep") < args.percent]
    dev = [r for r in dev if r["image"] and split_bucket(r["id"], "sweep") < args.percent]
    vocab = TagSet.from_tag_lists([tags_of(r) for r in catalog])
    indptr, indices = vocab.encode_lists([tags_of(r) for r in catalog])
    product_tags = sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(catalog), len(vocab)))
    truths = [tags_of(r) for r in dev]
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        encoder = load_image_encoder(f"rtag-lite@{size}")
        encoder.encode_images([r["image"] for r in catalog[:64]], progress=False)  # warm-up
        t = time.perf_counter()
        cat_vecs, _ = encoder.encode_images([r["image"] for r in catalog], progress=False)
        per_s = len(catalog) / (time.perf_counter() - t)
        dev_vecs, _ = encoder.encode_images([r["image"] for r in dev], progress=False)
        index, _ = store.build(cat_vecs, "flat")
        sims, nbrs = store.search(index, dev_vecs, 20)
        votes = knn.vote(knn.neighbour_weights(sims, nbrs, 0.05), nbrs, product_tags)
        acc = facet_accuracy(votes, vocab, truths)
        row = {"size": size, "images_per_s": round(per_s, 1), "facet_accuracy": round(acc["facet_accuracy"], 4),
               **{f: round(v["accuracy"], 4) for f, v in acc["facets"].items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\ncatalog {len(catalog)} images, dev {len(dev)}; image-only kNN (k=20, T=0.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
