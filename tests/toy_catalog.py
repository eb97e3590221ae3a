"""The tiny generated catalog the tests share: titles like "red cotton shirt", each product
with its own coloured square image, and the fast test encoders' specs.

Encoders: ``hash:64`` (model-free text) and ``rtag-tiny:random`` (a one-layer open_clip
ViT at 32 px with seeded random weights).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

TEXT_SPEC = "hash:64"
IMAGE_SPEC = "rtag-tiny:random"

COLOURS = {
    "red": (220, 20, 30),
    "blue": (30, 60, 220),
    "green": (30, 170, 60),
    "black": (10, 10, 10),
    "white": (245, 245, 245),
}
ARTICLES = {
    "shirt": "cotton",
    "jeans": "denim",
    "shoes": "leather",
    "dress": "silk",
    "hat": "wool",
    "bag": "canvas",
}
COLUMNS = ["id", "title", "description", "image", "tags", "colour", "article"]


def catalog_rows(image_dir: Path | None = None) -> list[dict]:
    """30 products (5 colours x 6 articles), each with its own coloured square image.

    Facet columns ``colour`` and ``article``; ``tags`` holds free tags, '|'-separated.
    Image paths are relative to the catalog file (which sits beside ``images/``).
    """
    rows = []
    for ci, (colour, rgb) in enumerate(COLOURS.items()):
        for ai, (article, material) in enumerate(ARTICLES.items()):
            pid = f"p{ci * len(ARTICLES) + ai:02d}"
            if image_dir is not None:
                write_square(image_dir / f"{pid}.png", rgb, marker=ai)
            rows.append({
                "id": pid,
                "title": f"{colour} {material} {article}",
                "description": f"A {colour} {article} made of {material}.",
                "image": f"images/{pid}.png",
                "tags": f"{material}|{'summer' if ci % 2 else 'winter'}",
                "colour": colour,
                "article": article,
            })
    return rows


def write_square(path: Path, rgb: tuple[int, int, int], marker: int = 0, size: int = 40) -> Path:
    """A square of one colour with a small white-ish marker whose place depends on ``marker``."""
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (size, size), rgb)
    draw = ImageDraw.Draw(img)
    x = 4 + 5 * marker
    draw.rectangle([x, 4, x + 6, 10], fill=(128, 128, 128))
    img.save(path)
    return path


def write_catalog(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """Write rows as CSV, TSV or JSONL, chosen by the extension of ``path``."""
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps({c: row[c] for c in columns if c in row}, ensure_ascii=False) + "\n")
        return path
    delimiter = "\t" if path.suffix == ".tsv" else ","
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, delimiter=delimiter, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def edit_manifest(folder: Path, change) -> None:
    """Rewrite ``folder/manifest.json`` after ``change(manifest)`` edits it in place."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps({k: v for k, v in manifest.items() if k != "seal"}), encoding="utf-8")  # edited: unsealed


def write_file(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# vocabularies for zero-shot tagging of the catalog: its facets (and a value it lacks) and a
# taxonomy of its articles
FACET_VOCAB = "colour:red\ncolour:blue\ncolour:green\narticle:shirt\narticle:jeans\narticle:scarf\n"
TAXONOMY = """# a tiny product taxonomy
1 - Clothing
2 - Clothing > Tops
3 - Clothing > Tops > shirt
4 - Clothing > Bottoms
5 - Clothing > Bottoms > jeans
6 - Accessories
7 - Accessories > hat
8 - Accessories > bag
"""
VOCAB_QUERIES = [{"id": "a", "title": "red cotton shirt"}, {"id": "b", "title": "blue denim jeans"}, {"id": "c", "title": "blue canvas bag"}]
