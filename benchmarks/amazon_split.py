"""The fixed 80/20 catalog/dev split of the amazon_uk toy catalog, with the category path
cut into level columns.

A product is in dev when the sha1 bucket of its id (fashion_split.split_bucket) is below
20, so the split is the same on every machine. ``level1..level5`` hold the path's nodes
(empty below the path's depth; 690 products have no category at all and keep empty
levels). Issue 13 scores level1-level3 as facets.

    python benchmarks/amazon_split.py [--root ../shared/data/amazon_uk] [--out benchmarks/results/amazon_uk]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_split import split_bucket, write_csv  # noqa: E402

DEV_PERCENT = 20
LEVELS = 5
SEPARATOR = " > "
FACETS = ["level1", "level2", "level3"]
ROOT = Path(__file__).resolve().parents[1]


def is_dev(product_id: str) -> bool:
    """Whether a product belongs to the dev side of the 80/20 split."""
    return split_bucket(product_id) < DEV_PERCENT


def load_rows(root: str | Path) -> list[dict]:
    """``root/products.csv`` as row dicts with ``level1..level5`` added."""
    path = Path(root) / "products.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no products.csv in {root}: pass --root the folder of the amazon_uk data set")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        nodes = [n.strip() for n in row["category"].split(SEPARATOR) if n.strip()] if row["category"] else []
        row.update({f"level{i + 1}": nodes[i] if i < len(nodes) else "" for i in range(LEVELS)})
    return rows


def split_rows(root: str | Path) -> tuple[list[dict], list[dict]]:
    """Catalog and dev rows."""
    catalog, dev = [], []
    for row in load_rows(root):
        (dev if is_dev(row["id"]) else catalog).append(row)
    return catalog, dev


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(ROOT.parent / "shared" / "data" / "amazon_uk"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "amazon_uk"))
    args = parser.parse_args(argv)
    try:
        catalog, dev = split_rows(args.root)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    columns = ["id", "title", "brand", "category"] + [f"level{i + 1}" for i in range(LEVELS)]
    write_csv(Path(args.out) / "catalog.csv", catalog, columns)
    write_csv(Path(args.out) / "dev.csv", dev, columns)
    print(f"catalog: {len(catalog)}, dev: {len(dev)} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
