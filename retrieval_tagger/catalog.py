"""Read a product catalog (CSV, TSV, JSON Lines, Parquet), clean it and validate it.

The result is a list of :class:`Product` records plus a :class:`CatalogReport` that
counts everything that was dropped or degraded, so nothing the user gave is lost
silently.
"""

from __future__ import annotations

import html
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from retrieval_tagger.catalog_files import detect_format, iter_rows, json_value
from retrieval_tagger.errors import CatalogError
from retrieval_tagger.language import fold_punctuation

log = logging.getLogger("rtag")

DEFAULT_ID_COL = "id"
DEFAULT_TEXT_COLS = ("title", "description")
DEFAULT_IMAGE_COL = "image"

_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")


@dataclass
class Product:
    """One product: its id, cleaned text, image path (absolute) and tags."""

    id: str
    text: str = ""
    image: str | None = None
    tags: list[str] = field(default_factory=list)
    problem: str | None = None  # why this product cannot be tagged (query inputs only)
    warning: str | None = None  # what was left out of it, e.g. a missing image (query inputs only)


@dataclass
class CatalogSpec:
    """Which columns hold what. ``None`` means "use the default column if it exists"."""

    id_col: str | None = None
    text_cols: Sequence[str] | None = None
    image_col: str | None = None
    tags_col: str | None = None
    facet_cols: Sequence[str] = ()
    strict: bool = False
    # a category path per product ("Toys > Puzzles > Jigsaws"): facets COL1..COLn and COL,
    # the full path (tags.path_tags); the tree is stored with the index (hierarchy.py)
    category_col: str | None = None
    category_sep: str = " > "
    category_drop: str | None = None  # a regular expression: path nodes it matches in full are dropped
    category_drop_last: bool = False  # drop each path's last node (paths that end with the product's name)
    category_depth: int | None = None  # keep the first levels only
    image_dir: str | None = None  # relative image paths lie under this folder [default: the file's own]
    allow_missing_images: bool = False  # index even when most photos cannot be read (report.check_images)
    column_names: Sequence[str] | None = None  # the column names of a CSV/TSV file without a header row
    # the fields above taken from an index's manifest, not named by the user: a file read
    # at query time may lack their columns, which then mean "not given"
    from_index: tuple[str, ...] = ()

    def describe(self) -> dict:
        return {
            "id_col": self.id_col or DEFAULT_ID_COL,
            "text_cols": list(self.text_cols) if self.text_cols else None,  # None: whichever defaults exist
            "image_col": self.image_col,
            "tags_col": self.tags_col,
            "facet_cols": list(self.facet_cols),
            **({"category_col": self.category_col, "category_sep": self.category_sep, "category_drop": self.category_drop,
                "category_drop_last": self.category_drop_last, "category_depth": self.category_depth} if self.category_col else {}),
        }

    def category_pattern(self) -> re.Pattern | None:
        """``category_drop`` compiled; an error that says so when it is not a regular expression."""
        if not self.category_drop:
            return None
        try:
            return re.compile(self.category_drop)
        except re.error as exc:
            raise CatalogError(f"--category-drop {self.category_drop!r} is not a regular expression ({exc}): "
                               "give one that matches whole path nodes to drop, e.g. 'All Products|Home'") from None


@dataclass
class CatalogReport:
    """Counts of what happened to the rows of a catalog file. Examples name the file and
    the line a row starts on (the row number in a Parquet file)."""

    rows_read: int = 0
    kept: int = 0
    duplicate_ids: int = 0
    empty_rows: int = 0
    image_cells: int = 0  # rows naming an image
    missing_images: int = 0
    unreadable_images: int = 0
    dropped_after_image_check: int = 0
    merged_spellings: int = 0  # tag spellings merged into another (case, spaces)
    merged_tags: int = 0  # products' tags so rewritten
    columns_left_out: list[str] = field(default_factory=list)  # query files: index columns the file lacks
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, example: str) -> None:
        bucket = self.examples.setdefault(kind, [])
        if len(bucket) < 3:
            bucket.append(example)

    def summary(self) -> str:
        parts = [f"{self.rows_read} rows read", f"{self.kept} kept"]
        skipped = self.duplicate_ids + self.empty_rows + self.dropped_after_image_check
        parts.append(f"{skipped} skipped")
        reasons = [
            (self.duplicate_ids, "duplicate id (first kept)"),
            (self.empty_rows, "no text and no image"),
            (self.dropped_after_image_check, "no text and no usable image"),
        ]
        details = [f"{n} {why}" for n, why in reasons if n]
        text = ", ".join(parts)
        if details:
            text += " (" + "; ".join(details) + ")"
        degraded = [
            (self.missing_images, "image file missing"),
            (self.unreadable_images, "image undecodable"),
        ]
        degraded_txt = [f"{n} {why}" for n, why in degraded if n]
        if degraded_txt:
            text += "; kept with text only: " + "; ".join(degraded_txt)
        if self.merged_spellings:
            text += (f"; merged {self.merged_spellings} tag spelling(s) differing only in case or spacing "
                     f"into the most frequent ({self.merged_tags} product tags rewritten)")
        return text

    def check_images(self, allow: bool) -> None:
        """Stop when most of the photos the rows name cannot be read (missing files or
        undecodable ones), with how many and examples, unless ``allow``: such a build is
        nearly always a wrong column or folder, not a catalog without photos."""
        bad = self.missing_images + self.unreadable_images
        if allow or not self.image_cells or 2 * bad <= self.image_cells:
            return
        examples = (self.examples.get("missing_images", []) + self.examples.get("unreadable_images", []))[:3]
        raise CatalogError(
            f"{bad} of the {self.image_cells} photos named cannot be read ({self.missing_images} not found, "
            f"{self.unreadable_images} undecodable), e.g. {'; '.join(examples)}: check --image-col and the paths "
            "(for bare file names pass --image-dir DIR), or pass --allow-missing-images to index those products by their text"
        )

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "kept": self.kept,
            "duplicate_ids": self.duplicate_ids,
            "empty_rows": self.empty_rows,
            "image_cells": self.image_cells,
            "missing_images": self.missing_images,
            "unreadable_images": self.unreadable_images,
            "dropped_after_image_check": self.dropped_after_image_check,
            "merged_spellings": self.merged_spellings,
            "merged_tags": self.merged_tags,
        }


def clean_text(value: object) -> str:
    """Strip HTML tags and entities, apply Unicode NFKC (full-width letters, digits and
    punctuation become ASCII), fold the CJK punctuation NFKC keeps (language.py) and
    collapse whitespace."""
    if value is None:
        return ""
    text = str(value)
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    text = fold_punctuation(unicodedata.normalize("NFKC", text))
    return _SPACE_RE.sub(" ", text).strip()


def parse_tag_list(value: object, where: str = "tag cell") -> list[str]:
    """A tag cell: a list (JSON input), a JSON array string, or a ``|``-separated string.

    Items of a list must be strings; numbers are taken as their text (``2012`` ->
    ``"2012"``, ``1.5`` -> ``"1.5"``); anything else (objects, lists, true/false, null) is
    an error that starts with ``where`` (the file, line and column).
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = list(value)
    else:
        text = str(value).strip()
        if text.startswith("["):
            items = json_value(text, list, f"{where}: {text[:60]!r} looks like a JSON array but", "a JSON array of strings")
        else:
            items = text.split("|")
    cleaned = (clean_text(_tag_text(item, where)) for item in items)
    return unique([t for t in cleaned if t])


def _tag_text(item: object, where: str) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return str(item)
    kind = {dict: "an object", list: "a list", bool: "true/false", type(None): "null"}.get(type(item), type(item).__name__)
    raise CatalogError(f"{where}: a tag list holds {kind} ({json.dumps(item, default=str)[:60]}): tags must be strings (or numbers)")


def unique(items: Sequence[str]) -> list[str]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))


def _resolve_columns(columns: list[str], spec: CatalogSpec, path: Path, optional: tuple[str, ...], report: CatalogReport) -> dict:
    """Check the requested columns exist; defaults are used only where present.

    A column of a field in ``optional`` (the index's own mapping, at query time) that the
    file lacks is left out with a note instead.
    """
    available = set(columns)

    def wanted(field_name: str, names: Sequence[str], what: str) -> list[str]:
        missing = [c for c in names if c not in available]
        if missing and field_name not in optional:
            raise CatalogError(
                f"{path.name} has no {what} column {missing[0]!r}; its columns are: {', '.join(columns)}"
            )
        for col in missing:
            report.columns_left_out.append(col)
            log.info("%s has no %s column %r that the index reads: its rows are read without it", path.name, what, col)
        return [c for c in names if c in available]

    (id_col,) = wanted("id_col", [spec.id_col or DEFAULT_ID_COL], "id")
    if spec.text_cols:
        text_cols = wanted("text_cols", spec.text_cols, "text")
    else:
        text_cols = [c for c in DEFAULT_TEXT_COLS if c in available]
    if spec.image_col:
        image_col = next(iter(wanted("image_col", [spec.image_col], "image")), None)
    else:
        image_col = DEFAULT_IMAGE_COL if DEFAULT_IMAGE_COL in available else None
    if not text_cols and not image_col:
        raise CatalogError(
            f"{path.name} has neither text nor image columns: pass --text-cols and/or --image-col; "
            f"its columns are: {', '.join(columns)}"
        )
    tags_col = next(iter(wanted("tags_col", [spec.tags_col], "tags")), None) if spec.tags_col else None
    facet_cols = wanted("facet_cols", list(spec.facet_cols), "facet")
    category_col = next(iter(wanted("category_col", [spec.category_col], "category")), None) if spec.category_col else None
    if category_col and (clash := {f"{category_col}1", category_col} & set(facet_cols)):
        raise CatalogError(f"--category-col {category_col} makes facets {category_col}1.. and {category_col}, and --facet-cols "
                           f"names {sorted(clash)[0]} too: leave it out of --facet-cols")
    return dict(id_col=id_col, text_cols=text_cols, image_col=image_col, tags_col=tags_col, facet_cols=facet_cols, category_col=category_col)


def _resolve_image(value: object, base: Path) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    path = Path(text)
    if not path.is_absolute():
        path = base / path
    return str(path)


def read_catalog(path: str | Path, spec: CatalogSpec | None = None, purpose: str = "index",
                 known_tags: Sequence[str] = ()) -> tuple[list[Product], CatalogReport]:
    """Read and clean a catalog file.

    ``purpose="index"`` drops duplicate ids and empty rows (counted in the report);
    ``purpose="query"`` keeps every row, marking untaggable ones with ``problem`` (and a
    missing image with ``warning``) so that every input row can appear in the output, and
    reads the file without the index's columns it lacks (``spec.from_index``). Tag
    spellings that differ only in case or spacing become one (``known_tags`` first, else the
    most frequent; see tags.merge_spellings), counted in the report.
    """
    if purpose not in ("index", "query"):
        raise ValueError(f"purpose must be 'index' or 'query', not {purpose!r}")
    path = Path(path)
    spec = spec or CatalogSpec()
    report = CatalogReport()
    from retrieval_tagger.tags import (  # numpy: not for --help (see _merge_spellings)
        path_nodes,
        path_tags,
    )

    columns, rows = iter_rows(path, spec.column_names)
    cols = _resolve_columns(columns, spec, path, spec.from_index if purpose == "query" else (), report)
    base = Path(spec.image_dir).resolve() if spec.image_dir else path.resolve().parent
    drop = spec.category_pattern()
    unit = "row" if detect_format(path) == "parquet" else "line"
    products: list[Product] = []
    seen: set[str] = set()
    for row_no, row in rows:
        report.rows_read += 1
        pid = clean_text(row.get(cols["id_col"]))
        where = f"{path.name} {unit} {row_no}"
        text = " ".join(t for t in (clean_text(row.get(c)) for c in cols["text_cols"]) if t)
        image = _resolve_image(row.get(cols["image_col"]), base) if cols["image_col"] else None
        warning = None
        report.image_cells += image is not None
        if image is not None and not Path(image).is_file():
            report.missing_images += 1
            report.note("missing_images", f"{where}: {image}")
            if spec.strict:
                raise CatalogError(f"{where}: image file not found: {image} (drop --strict to keep the product with text only)")
            image, warning = None, f"image file not found: {image}"
        tags: list[str] = []
        if cols["tags_col"]:
            tags.extend(parse_tag_list(row.get(cols["tags_col"]), f"{where}, column {cols['tags_col']!r}"))
        for col in cols["facet_cols"]:
            value = clean_text(row.get(col))
            if value:
                tags.append(f"{col}:{value}")
        if cols["category_col"]:
            nodes = path_nodes(clean_text(row.get(cols["category_col"])), spec.category_sep, drop, spec.category_drop_last, spec.category_depth)
            tags.extend(path_tags(cols["category_col"], nodes))
        product = Product(id=pid, text=text, image=image, tags=unique(tags), warning=warning)
        if purpose == "query":
            if not pid:
                product.problem = "empty id"
            elif not text and not image:
                product.problem = "no text and no readable image" + (f" ({warning})" if warning else "")
            products.append(product)
            continue
        if not pid or (not text and not image):
            report.empty_rows += 1
            report.note("empty_rows", where)
            if spec.strict:
                raise CatalogError(f"{where}: no id, or neither text nor image (drop --strict to skip such rows)")
            continue
        if pid in seen:
            report.duplicate_ids += 1
            report.note("duplicate_ids", f"{where}: {pid}")
            if spec.strict:
                raise CatalogError(f"{where}: duplicate id {pid!r} (drop --strict to keep the first)")
            continue
        seen.add(pid)
        products.append(product)
    report.kept = len(products)
    _merge_spellings(products, known_tags, report)
    return products, report


def _merge_spellings(products: list[Product], known_tags: Sequence[str], report: CatalogReport) -> None:
    # tags.py imports numpy, which the CLI's --help (importing this module) must not pay for
    from retrieval_tagger.tags import merge_spellings

    merged, renamed = merge_spellings([p.tags for p in products], known_tags)
    for product, tags in zip(products, merged):
        product.tags = tags
    report.merged_spellings = len(renamed)
    report.merged_tags = sum(n for _, _, n in renamed)
    for old, new, n in renamed:
        report.note("merged_spellings", f"{old!r} -> {new!r} ({n} product{'s' if n > 1 else ''})")


def spec_from_manifest(columns: dict, **overrides) -> CatalogSpec:
    """The column mapping an index was built with, with any options the user gave on top;
    the fields that come from the index alone are listed in ``from_index``."""
    base = CatalogSpec(
        id_col=columns.get("id_col"),
        text_cols=columns.get("text_cols"),
        image_col=columns.get("image_col"),
        tags_col=columns.get("tags_col"),
        facet_cols=columns.get("facet_cols") or (),
        category_col=columns.get("category_col"),
        category_sep=columns.get("category_sep") or " > ",
        category_drop=columns.get("category_drop"),
        category_drop_last=bool(columns.get("category_drop_last")),
        category_depth=columns.get("category_depth"),
    )
    for key, value in overrides.items():
        if value:
            setattr(base, key, value)
    # every row needs its id: the id column is never optional
    base.from_index = tuple(key for key in ("text_cols", "image_col", "tags_col", "facet_cols", "category_col") if getattr(base, key) and not overrides.get(key))
    return base
