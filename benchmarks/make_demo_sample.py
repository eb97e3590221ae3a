"""Draw the ~5% fashion sample that ``make demo`` runs on, into demo/fashion_sample/.

A product is in the sample when ``split_bucket(id, salt="demo") < 5``; inside the sample
it goes to dev.csv when ``is_dev(id)``, else to catalog.csv (the same 90/10 rule as the
full benchmark). Images are copied byte for byte.

    python benchmarks/make_demo_sample.py [--root ../shared/data/fashion] [--out demo/fashion_sample]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from fashion_split import image_file, is_dev, load_fashion, split_bucket, write_csv

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SALT = "demo"
SAMPLE_PERCENT = 5
COLUMNS = ["id", "title", "gender", "masterCategory", "subCategory", "articleType",
           "baseColour", "season", "usage", "image"]

ATTRIBUTION = """# Fashion demo sample

Source: Kaggle dataset "Fashion Product Images (Small)" by Param Aggarwal,
https://www.kaggle.com/datasets/paramaggarwal/fashion-product-images-small,
original images from Myntra. Used as a small sample for demonstration.

This folder holds a sample of {total} of the data set's {source} products:
{catalog} in `catalog.csv` and {dev} in `dev.csv`, with their images (unchanged) in `images/`.

How it was drawn, by `benchmarks/make_demo_sample.py`: a product is in the sample when
`int(sha1("{salt}" + id).hexdigest(), 16) % 100 < {percent}`; it is in `dev.csv` when
`int(sha1(id).hexdigest(), 16) % 100 < 10` (the benchmark's dev split, see
`benchmarks/fashion_split.py`), otherwise in `catalog.csv`. `title` is the source's
`productDisplayName`; `image` is empty where the source has no picture
({no_image} of the sampled products).
"""


def sample_row(root: Path, row: dict) -> tuple[dict, Path | None]:
    """The demo CSV row of a source row, and the source JPEG to copy (None if missing)."""
    source = image_file(root, row)
    out = {column: row[column] for column in COLUMNS if column in row}
    out["title"] = row["productDisplayName"]
    out["image"] = f"images/{row['id']}.jpg" if source else ""
    return out, source


def copy_images(pairs: list[tuple[dict, Path | None]], images: Path) -> None:
    """Copy the sampled JPEGs into ``images`` and drop any left from an earlier draw."""
    images.mkdir(parents=True, exist_ok=True)
    wanted = {source.name: source for _, source in pairs if source}
    for stale in images.glob("*.jpg"):
        if stale.name not in wanted:
            stale.unlink()
    for name, source in wanted.items():
        shutil.copyfile(source, images / name)


def make_sample(root: Path, out: Path) -> dict:
    """Write the sample into ``out`` and return its counts."""
    rows = load_fashion(root)
    picked = [sample_row(root, row) for row in rows if split_bucket(row["id"], salt=SAMPLE_SALT) < SAMPLE_PERCENT]
    dev = [row for row, _ in picked if is_dev(row["id"])]
    catalog = [row for row, _ in picked if not is_dev(row["id"])]
    copy_images(picked, out / "images")
    write_csv(out / "catalog.csv", catalog, COLUMNS)
    write_csv(out / "dev.csv", dev, COLUMNS)
    counts = {"total": len(picked), "source": len(rows), "catalog": len(catalog), "dev": len(dev),
              "no_image": sum(1 for _, source in picked if source is None)}
    text = ATTRIBUTION.format(salt=SAMPLE_SALT, percent=SAMPLE_PERCENT, **counts)
    (out / "ATTRIBUTION.md").write_text(text, encoding="utf-8")
    return counts


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "fashion",
                        help="folder holding styles.csv and images/")
    parser.add_argument("--out", type=Path, default=REPO / "demo" / "fashion_sample",
                        help="folder to write the sample into")
    args = parser.parse_args(argv)
    try:
        counts = make_sample(args.root, args.out)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{counts['total']} products ({counts['catalog']} catalog, {counts['dev']} dev, "
          f"{counts['no_image']} without image) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
