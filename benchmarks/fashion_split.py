"""The fixed catalog/dev split of the fashion benchmark data.

A product's side of the split depends only on a hash of its id, so the split is the same
on every machine, does not move when rows are added or reordered, and needs no saved
list of ids. Run as a script to write the two halves as CSV files:

    python benchmarks/fashion_split.py --root ../shared/data/fashion --out DIR
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import tempfile
from pathlib import Path

DEV_PERCENT = 10


def split_bucket(product_id: str, salt: str = "") -> int:
    """An integer in [0, 100) drawn from the sha1 of ``salt + product_id``."""
    digest = hashlib.sha1((salt + str(product_id)).encode("utf-8")).hexdigest()
    return int(digest, 16) % 100


def is_dev(product_id: str) -> bool:
    """Whether a product belongs to the dev side of the 90/10 catalog/dev split."""
    return split_bucket(product_id) < DEV_PERCENT


def load_fashion(root: str | os.PathLike) -> list[dict]:
    """Read ``root/styles.csv`` into a list of row dicts (all values are strings)."""
    path = Path(root) / "styles.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no styles.csv in {root}: pass --root the folder of the fashion data set")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def image_file(root: str | os.PathLike, row: dict) -> Path | None:
    """The absolute path of a product's JPEG under ``root/images``, or None if it is missing."""
    path = (Path(root) / "images" / f"{row['id']}.jpg").resolve()
    return path if path.is_file() else None


def write_csv(path: str | os.PathLike, rows: list[dict], columns: list[str]) -> None:
    """Write ``rows`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def split_rows(root: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """Catalog and dev rows, with ``image`` made an absolute path ('' when missing)."""
    catalog, dev = [], []
    for row in load_fashion(root):
        image = image_file(root, row)
        row = {**row, "image": str(image) if image else ""}
        (dev if is_dev(row["id"]) else catalog).append(row)
    return catalog, dev


def main(argv: list[str] | None = None) -> int:
    """Write DIR/catalog.csv and DIR/dev.csv from the fashion data set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="folder holding styles.csv and images/")
    parser.add_argument("--out", required=True, help="folder to write catalog.csv and dev.csv into")
    args = parser.parse_args(argv)
    try:
        catalog, dev = split_rows(args.root)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not catalog and not dev:
        print(f"error: {args.root}/styles.csv has no rows", file=sys.stderr)
        return 2
    columns = list((catalog + dev)[0])
    write_csv(Path(args.out) / "catalog.csv", catalog, columns)
    write_csv(Path(args.out) / "dev.csv", dev, columns)
    missing = sum(1 for row in catalog + dev if not row["image"])
    print(f"catalog: {len(catalog)}, dev: {len(dev)}, without image: {missing} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
