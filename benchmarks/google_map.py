"""Mapping the amazon_uk toy catalog onto Google's product taxonomy (issue 14): index the
catalog with its own category levels, add the 5,595-node taxonomy (timed), tag the 300
hand-labelled dev products (benchmarks/google_eval) zero-shot alone, through the catalog's
tags alone, and both, and score each (accuracy at levels 1-3, ROC AUC at level 2).

The score given to the scorer is the returned level-2 node's score (the level the AUC is
asked at); the prediction is the whole returned path.

    nice -n 10 python benchmarks/google_map.py [--index DIR] [--rebuild] [--corrections MAP.csv] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from google_eval import DEV, LABELS, TAXONOMY, read_csv, read_labels, score  # noqa: E402

from retrieval_tagger.pipeline import Tagger  # noqa: E402
from retrieval_tagger.vocab import map_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "benchmarks" / "results" / "amazon_uk" / "catalog.csv"
MODES = {"zero-shot alone": "zeroshot", "catalog tags alone": "knn", "bridged (both)": "auto"}


def build(index: Path, catalog: Path) -> None:
    """Index the catalog's titles with its level1..level3 as facets (text only)."""
    command = [sys.executable, "-m", "retrieval_tagger.cli.main", "index", str(catalog), "--name", str(index), "--text-cols", "title",
               "--facet-cols", "level1,level2,level3", "--image-model", "none", "--force"]
    subprocess.run(command, check=True)


def predictions(results) -> tuple[dict, dict]:
    """Product id -> returned path, and -> the score of its level-2 node (its deepest when shallower)."""
    paths, scores = {}, {}
    for result in results:
        if result.tags:
            paths[result.id] = result.tags[-1]["tag"]
            scores[result.id] = result.tags[min(1, len(result.tags) - 1)]["score"]
    return paths, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=str(ROOT / "benchmarks" / "results" / "google_map" / "amazon-levels"))
    parser.add_argument("--catalog", default=str(CATALOG))
    parser.add_argument("--taxonomy", default=str(TAXONOMY))
    parser.add_argument("--rebuild", action="store_true", help="index the catalog again")
    parser.add_argument("--corrections", help="an edited `rtag vocab map` file to store before tagging")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "google_map" / "figures.json"))
    args = parser.parse_args(argv)
    index = Path(args.index)
    if args.rebuild or not (index / "manifest.json").is_file():
        build(index, Path(args.catalog))
    tagger = Tagger.load(index)
    start = time.perf_counter()
    tagger.add_vocab(args.taxonomy, "google", force=True)
    add_seconds = time.perf_counter() - start
    if args.corrections:
        print(f"corrections stored: {map_file.review(tagger.index, 'google', args.corrections)[1]}")
    labels = read_labels(LABELS)
    dev = {row["id"]: row for row in read_csv(DEV)}
    products = [{"id": pid, "text": dev[pid]["title"]} for pid in labels]
    figures = {"add_seconds": round(add_seconds, 1), "modes": {}}
    print(f"vocab add: {add_seconds:.1f} s for the {len(tagger.vocab_run('google').stored.entries)}-node taxonomy")
    print(f"{'method':<22}{'level1':>8}{'level2':>8}{'level3':>8}{'AUC@2':>8}")
    for label, mode in MODES.items():
        paths, scores = predictions(tagger.tag(products, vocab="google", mode=mode, min_score=0.0, top_n=10))
        result = score(paths, scores, labels=labels)
        figures["modes"][label] = result
        auc = f"{result['auc_level2']:.3f}" if result["auc_level2"] is not None else "-"
        print(f"{label:<22}{result['level1']:>8.3f}{result['level2']:>8.3f}{result['level3']:>8.3f}{auc:>8}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
