"""Joint (consistent-path) decoding of tags that form a tree, against independent facets.

Builds text-only indexes (default text model, no images) of three setups and tags their
dev split with fused votes:

- amazon_uk, levels as facets: ``--facet-cols level1,level2,level3`` (what a user did
  by hand before path columns); level2 nested in level1 and level3 in level2 are learned
  from co-occurrence (hierarchy.learn).
- amazon_uk, path column: ``--category-col category --category-depth 3``: facets
  category1..category3 and the full path (category), stored as a tree of paths.
- fashion: ``--facet-cols gender,...,usage``; masterCategory > subCategory > articleType
  learned as nested facets.

Each dev product's (products x tags) scores are decoded two ways: independently (each
facet's best value) and jointly (hierarchy.decode, the best-scoring consistent path), and
the script prints per-level accuracy (amazon levels are judged by node name against the
dev file's level columns, the same truth for both amazon indexes; "path" rows count a
level right only when every level above it is right too), the share of outputs
whose levels are inconsistent (hierarchy.consistent), and the share where a deeper level
scores above the level over it.

    nice -n 10 .venv/bin/python benchmarks/hierarchy.py [--split dev|catalog] [--work benchmarks/results/hierarchy] [--rebuild]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval_tagger import artifacts, hierarchy
from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import (
    CatalogSpec,
    clean_text,
    read_catalog,
    spec_from_manifest,
)
from retrieval_tagger.pipeline import Tagger
from retrieval_tagger.tags import split_facet

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CATALOG_SAMPLE = 2000
FASHION_FACETS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage"]


@dataclass
class Setup:
    name: str
    data: str  # folder under benchmarks/results with catalog.csv and dev.csv
    spec: CatalogSpec
    levels: list[str]  # the index's facet of each level, root first
    truth_columns: list[str] | None = None  # dev columns holding each level's node name (else the dev tags)


SETUPS = [
    Setup("amazon_uk, levels as facets", "amazon_uk", CatalogSpec(text_cols=["title"], facet_cols=["level1", "level2", "level3"]),
          ["level1", "level2", "level3"], ["level1", "level2", "level3"]),
    Setup("amazon_uk, path column", "amazon_uk", CatalogSpec(text_cols=["title"], category_col="category", category_depth=3),
          ["category1", "category2", "category3"], ["level1", "level2", "level3"]),
    Setup("fashion", "fashion", CatalogSpec(text_cols=["productDisplayName"], facet_cols=FASHION_FACETS),
          ["masterCategory", "subCategory", "articleType"]),
]


def build(setup: Setup, folder: Path, rebuild: bool) -> float:
    """Build the setup's index unless it exists; seconds taken (0 when reused)."""
    if folder.is_dir() and not rebuild:
        return 0.0
    started = time.perf_counter()
    build_index(RESULTS / setup.data / "catalog.csv", folder, setup.spec, BuildOptions(image_model="none", force=True, progress=False))
    return time.perf_counter() - started


def truths(setup: Setup, products, split: str) -> list[list[str | None]]:
    """Each product's true node name per level (None where its path is shorter)."""
    if setup.truth_columns:
        with open(RESULTS / setup.data / f"{split}.csv", newline="", encoding="utf-8") as handle:
            rows = {row["id"]: row for row in csv.DictReader(handle)}
        return [[clean_text(rows[p.id][c]) or None for c in setup.truth_columns] for p in products]
    out = []
    for p in products:
        named = dict(split_facet(t) for t in p.tags)
        out.append([named.get(level) for level in setup.levels])
    return out


def level_accuracy(scores: np.ndarray, vocab, setup: Setup, truth: list[list[str | None]]) -> tuple[list, list]:
    """Per level, over the products with a true node there: the share whose best value
    (score > 0) names it, and the share whose best values name it and every node above it
    (the path down to it is right), each with the count."""
    names, paths = [], []
    path_ok = np.ones(len(truth), dtype=bool)
    for k, facet in enumerate(setup.levels):
        cols = vocab.facets[facet]
        best = np.argmax(scores[:, cols], axis=1)
        top = scores[np.arange(len(scores)), cols[best]]
        hit = np.asarray([split_facet(vocab.tags[c])[1] == t[k] and s > 0 for c, s, t in zip(cols[best], top, truth)], dtype=bool)
        path_ok &= hit
        has = np.asarray([bool(t[k]) for t in truth])
        names.append((float(hit[has].mean()), int(has.sum())))
        paths.append((float(path_ok[has].mean()), int(has.sum())))
    return names, paths


def inversions(scores: np.ndarray, vocab, levels: list[str]) -> float:
    """Share of products where a level's best value scores above the best of the level over it."""
    best = np.stack([scores[:, vocab.facets[f]].max(axis=1) for f in levels], axis=1)
    return float((np.diff(best, axis=1) > 1e-6).any(axis=1).mean())


def evaluate(setup: Setup, folder: Path, split: str) -> dict:
    """Independent and joint decoding of the dev split, or of a hash sample of the catalog
    (``split="catalog"``, each product left out of its own neighbours: what the decoding
    rule was chosen on)."""
    tagger = Tagger.load(folder, rerank=False)
    spec = spec_from_manifest(tagger.index.manifest["catalog"]["columns"])
    products, _ = read_catalog(RESULTS / setup.data / f"{split}.csv", spec, purpose="query", known_tags=tagger.index.vocab.tags)
    if split == "catalog":
        products = [products[i] for i in artifacts.hash_sample([p.id for p in products], CATALOG_SAMPLE)]
    started = time.perf_counter()
    scores, _, items, _ = tagger.score(products, exclude_self=True, progress=False)
    score_s = time.perf_counter() - started
    started = time.perf_counter()
    vocab, truth = tagger.index.vocab, truths(setup, items, split)
    # learned again as build_index learns it, so that an index built before a change to
    # hierarchy.py is measured with the current rule
    tree = hierarchy.learn(vocab, tagger.index.product_tags, [spec.category_col] if spec.category_col else [])
    joint = hierarchy.decode(scores, tree)
    decode_s = time.perf_counter() - started
    result = {"products": len(items), "groups": tree.groups if tree else [], "score_s": round(score_s, 2), "decode_s": round(decode_s, 3)}
    for name, decoded in (("independent", scores), ("joint", joint)):
        levels, paths = level_accuracy(decoded, vocab, setup, truth)
        result[name] = {
            "levels": levels,
            "paths": paths,
            "inconsistent": float(1 - hierarchy.consistent(tree, decoded, vocab).mean()),
            "inversions": inversions(decoded, vocab, setup.levels),
        }
        if setup.truth_columns is None:  # every facet, to see the ones outside the tree unchanged
            result[name]["facets"] = _facet_accuracy(decoded, vocab, items)
    return result


def _facet_accuracy(scores: np.ndarray, vocab, items) -> dict:
    from retrieval_tagger.metrics import facet_accuracy

    found = facet_accuracy(scores, vocab, [p.tags for p in items])
    return {"all": round(found["facet_accuracy"], 4), **{f: round(row["accuracy"], 4) for f, row in found["facets"].items()}}


def report(setup: Setup, result: dict) -> str:
    lines = [f"== {setup.name}: {result['products']} {result['split']} products; tree: " + "; ".join(
        f"{g['kind']} {' > '.join(g['facets'])} ({g['paths']} paths)" for g in result["groups"])]
    lines.append(f"{'decoding':<12} " + " ".join(f"{f'level {k + 1}':>14}" for k in range(len(setup.levels)))
                 + f" {'inconsistent':>13} {'inversions':>11}")
    for name in ("independent", "joint"):
        row = result[name]
        lines.append(f"{name:<12} " + " ".join(f"{acc:>8.4f} ({n:>4})" for acc, n in row["levels"])
                     + f" {row['inconsistent']:>13.4f} {row['inversions']:>11.4f}")
        lines.append(f"{'  path':<12} " + " ".join(f"{acc:>8.4f} ({n:>4})" for acc, n in row["paths"]))
        if "facets" in row:
            lines.append(f"{'':<12} facets: " + ", ".join(f"{f} {a:.4f}" for f, a in row["facets"].items()))
    lines.append(f"tagging {result['score_s']}s, joint decoding {result['decode_s']}s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(RESULTS / "hierarchy"), help="Folder for the indexes and results.json.")
    parser.add_argument("--rebuild", action="store_true", help="Rebuild indexes that exist.")
    parser.add_argument("--split", choices=["dev", "catalog"], default="dev",
                        help=f"Tag the dev split, or {CATALOG_SAMPLE} catalog products left out of their own neighbours.")
    args = parser.parse_args(argv)
    work = Path(args.work)
    results = {}
    for setup in SETUPS:
        folder = work / setup.name.replace(", ", "_").replace(" ", "_")
        built = build(setup, folder, args.rebuild)
        results[setup.name] = {**evaluate(setup, folder, args.split), "split": args.split, "build_s": round(built, 1)}
        print(report(setup, results[setup.name]), flush=True)
    (work / f"results_{args.split}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
