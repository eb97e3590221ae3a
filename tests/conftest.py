"""Shared fixtures: a tiny generated catalog (titles like "red cotton shirt", coloured
square images) and indexes built from it with the fast test encoders.

Encoders used here: ``hash:64`` (model-free text) and ``rtag-tiny:random`` (a one-layer
open_clip ViT at 32 px with seeded random weights). Every index lives under a pytest
temporary folder, never in the repository's ``indexes/``.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

import pytest

os.environ["RTAG_NO_PROGRESS"] = "1"
# ONNX exports of text models (encoders/onnx_export.py) go to a fresh cache, not the user's
os.environ["RTAG_CACHE_DIR"] = tempfile.mkdtemp(prefix="rtag-test-cache-")

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


@pytest.fixture(scope="session")
def catalog_dir(tmp_path_factory) -> Path:
    """A folder holding ``catalog.csv`` and ``images/`` with the 30 tiny products."""
    folder = tmp_path_factory.mktemp("catalog")
    write_catalog(folder / "catalog.csv", catalog_rows(folder / "images"), COLUMNS)
    return folder


@pytest.fixture(scope="session")
def catalog_csv(catalog_dir) -> Path:
    return catalog_dir / "catalog.csv"


@pytest.fixture(scope="session")
def facet_spec():
    from retrieval_tagger.catalog import CatalogSpec

    return CatalogSpec(tags_col="tags", facet_cols=["colour", "article"])


@pytest.fixture(scope="session")
def text_index(tmp_path_factory, catalog_csv, facet_spec) -> Path:
    """A text-only index (hash:64, no image model). Treat as read-only: copy before changing."""
    from retrieval_tagger.build import BuildOptions, build_index

    out = tmp_path_factory.mktemp("indexes") / "text"
    build_index(catalog_csv, out, facet_spec, BuildOptions(text_model=TEXT_SPEC, image_model="none"))
    return out


@pytest.fixture(scope="session")
def both_index(tmp_path_factory, catalog_csv, facet_spec) -> Path:
    """A text + image index (hash:64, rtag-tiny:random). Treat as read-only."""
    from retrieval_tagger.build import BuildOptions, build_index

    out = tmp_path_factory.mktemp("indexes") / "both"
    build_index(catalog_csv, out, facet_spec, BuildOptions(text_model=TEXT_SPEC, image_model=IMAGE_SPEC))
    return out


@pytest.fixture()
def index_home(tmp_path, monkeypatch) -> Path:
    """Bare index names resolve under a temporary folder for this test."""
    home = tmp_path / "index_home"
    monkeypatch.setenv("RTAG_INDEX_DIR", str(home))
    return home


@pytest.fixture(scope="session")
def encoders():
    """The fast test encoders, loaded once: pass as ``build_index(..., encoders=encoders)``."""
    from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder

    return load_text_encoder(TEXT_SPEC), load_image_encoder(IMAGE_SPEC)
