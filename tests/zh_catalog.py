"""A small Chinese catalog for the language tests: shop titles (an English brand, then
gender, colour and product type in Chinese, as marketplace titles are written) with
facets in Chinese; and the same products in English, for cross-lingual checks."""

from __future__ import annotations

import itertools
from pathlib import Path

from toy_catalog import write_catalog

GENDERS = {"男士": "Men", "女士": "Women"}
COLOURS = {"黑色": "Black", "白色": "White", "红色": "Red", "藏青色": "Navy Blue", "粉红色": "Pink"}
ARTICLES = {"跑步鞋": "Running Shoes", "衬衫": "Shirt", "连衣裙": "Dress", "牛仔裤": "Jeans"}
BRANDS = ("Puma", "Nike", "Adidas")
COLUMNS = ["id", "title", "gender", "colour", "article"]


def zh_rows() -> list[dict]:
    """35 products: every gender, colour and article (dresses for women only), in turn."""
    rows = []
    combos = [(g, c, a) for g, c, a in itertools.product(GENDERS, COLOURS, ARTICLES) if not (a == "连衣裙" and g == "男士")]
    for i, (gender, colour, article) in enumerate(combos):
        brand = BRANDS[i % len(BRANDS)]
        rows.append({"id": f"z{i:02d}", "title": f"{brand} {gender}{colour}{article}", "gender": gender, "colour": colour, "article": article})
    return rows


def en_rows() -> list[dict]:
    """The same products in English, with English facets."""
    return [{"id": r["id"].replace("z", "e"), "title": f"{r['title'].split()[0]} {GENDERS[r['gender']]} {COLOURS[r['colour']]} {ARTICLES[r['article']]}",
             "gender": GENDERS[r["gender"]], "colour": COLOURS[r["colour"]], "article": ARTICLES[r["article"]]} for r in zh_rows()]


def write_zh_catalog(path: Path, rows: list[dict] | None = None) -> Path:
    return write_catalog(path, rows if rows is not None else zh_rows(), COLUMNS)
