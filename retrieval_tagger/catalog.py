"""Read a product catalog (CSV, TSV, JSON Lines, Parquet), clean it and validate it.

The result is a list of :class:`Product` records plus a :class:`CatalogReport` that
counts everything that was dropped or degraded, so nothing the user gave is lost
silently.
"""

from __future__ import annotations

import csv
import html
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from retrieval_tagger.errors import CatalogError

DEFAULT_ID_COL = "id"
DEFAULT_TEXT_COLS = ("title", "description")
DEFAULT_IMAGE_COL = "image"

_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")
_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass
class Product:
    """One product: its id, cleaned text, image path (absolute) and tags."""

    id: str
    text: str = ""
    image: str | None = None
    tags: list[str] = field(default_factory=list)
    problem: str | None = None  # why this product cannot be tagged (query inputs only)


@dataclass
class CatalogSpec:
    """Which columns hold what. ``None`` means "use the default column if it exists"."""

    id_col: str | None = None
    text_cols: Sequence[str] | None = None
    image_col: str | None = None
    tags_col: str | None = None
    facet_cols: Sequence[str] = ()
    strict: bool = False

    def describe(self) -> dict:
        return {
            "id_col": self.id_col or DEFAULT_ID_COL,
            "text_cols": list(self.text_cols) if self.text_cols else None,  # None: whichever defaults exist
            "image_col": self.image_col,
            "tags_col": self.tags_col,
            "facet_cols": list(self.facet_cols),
        }


@dataclass
class CatalogReport:
    """Counts of what happened to the rows of a catalog file."""

    rows_read: int = 0
    kept: int = 0
    duplicate_ids: int = 0
    empty_rows: int = 0
    missing_images: int = 0
    unreadable_images: int = 0
    dropped_after_image_check: int = 0
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
        return text

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "kept": self.kept,
            "duplicate_ids": self.duplicate_ids,
            "empty_rows": self.empty_rows,
            "missing_images": self.missing_images,
            "unreadable_images": self.unreadable_images,
            "dropped_after_image_check": self.dropped_after_image_check,
        }


def clean_text(value: object) -> str:
    """Strip HTML tags and entities, apply Unicode NFKC and collapse whitespace."""
    if value is None:
        return ""
    text = str(value)
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text)
    return _SPACE_RE.sub(" ", text).strip()


def parse_tag_list(value: object) -> list[str]:
    """A tag cell: a list (JSON input), a JSON array string, or a ``|``-separated string."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = list(value)
    else:
        text = str(value).strip()
        if text.startswith("["):
            items = _json_value(text, list, f"tag cell {text[:60]!r} looks like a JSON array but", "a JSON array of strings")
        else:
            items = text.split("|")
    return unique([clean_text(t) for t in items if clean_text(t)])


def _json_value(text: str, kind: type, where: str, expected: str):
    """``text`` parsed as JSON, which must give a ``kind``; errors start with ``where``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{where} is not valid JSON ({exc.msg}): it must be {expected}") from exc
    if not isinstance(value, kind):
        raise CatalogError(f"{where} is JSON but not {expected}")
    return value


def unique(items: Sequence[str]) -> list[str]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))


def detect_format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_FORMATS))
        raise CatalogError(f"cannot tell the format of {path.name}: use one of the extensions {known}")
    return fmt


def iter_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The column names of a catalog file and its rows as (line number, dict) pairs."""
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    fmt = detect_format(path)
    if fmt in ("csv", "tsv"):
        return _iter_delimited(path, "," if fmt == "csv" else "\t")
    if fmt == "jsonl":
        return _iter_jsonl(path)
    return _iter_parquet(path)


def _iter_delimited(path: Path, delimiter: str) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path} is not valid UTF-8 (byte {exc.start}): re-save it as UTF-8") from exc
    except csv.Error as exc:
        raise CatalogError(f"{path} is not valid {'CSV' if delimiter == ',' else 'TSV'}: {exc}") from exc
    if not columns:
        raise CatalogError(f"{path} is empty: expected a header row")
    return columns, enumerate(rows, 2)  # line 1 is the header


def _iter_jsonl(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    rows = []
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                rows.append((line_no, _json_value(line, dict, f"{path}:{line_no}:", "a JSON object")))
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path} is not valid UTF-8 (byte {exc.start}): re-save it as UTF-8") from exc
    columns = unique([key for _, row in rows for key in row])
    return columns, iter(rows)


def _iter_parquet(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise CatalogError("reading Parquet needs pyarrow: pip install 'retrieval-tagger[parquet]'") from exc
    table = pq.read_table(path)
    return list(table.column_names), enumerate(table.to_pylist(), 1)


def _resolve_columns(columns: list[str], spec: CatalogSpec, path: Path) -> dict:
    """Check the requested columns exist; defaults are used only where present."""
    available = set(columns)

    def require(col: str, what: str) -> str:
        if col not in available:
            raise CatalogError(
                f"{path.name} has no {what} column {col!r}; its columns are: {', '.join(columns)}"
            )
        return col

    id_col = require(spec.id_col or DEFAULT_ID_COL, "id")
    if spec.text_cols:
        text_cols = [require(c, "text") for c in spec.text_cols]
    else:
        text_cols = [c for c in DEFAULT_TEXT_COLS if c in available]
    if spec.image_col:
        image_col = require(spec.image_col, "image")
    else:
        image_col = DEFAULT_IMAGE_COL if DEFAULT_IMAGE_COL in available else None
    if not text_cols and not image_col:
        raise CatalogError(
            f"{path.name} has neither text nor image columns: pass --text-cols and/or --image-col; "
            f"its columns are: {', '.join(columns)}"
        )
    tags_col = require(spec.tags_col, "tags") if spec.tags_col else None
    facet_cols = [require(c, "facet") for c in spec.facet_cols]
    return dict(id_col=id_col, text_cols=text_cols, image_col=image_col, tags_col=tags_col, facet_cols=facet_cols)


def _resolve_image(value: object, base: Path) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    path = Path(text)
    if not path.is_absolute():
        path = base / path
    return str(path)


def read_catalog(path: str | Path, spec: CatalogSpec | None = None, purpose: str = "index") -> tuple[list[Product], CatalogReport]:
    """Read and clean a catalog file.

    ``purpose="index"`` drops duplicate ids and empty rows (counted in the report);
    ``purpose="query"`` keeps every row, marking untaggable ones with ``problem`` so that
    every input row can appear in the output.
    """
    if purpose not in ("index", "query"):
        raise ValueError(f"purpose must be 'index' or 'query', not {purpose!r}")
    path = Path(path)
    spec = spec or CatalogSpec()
    columns, rows = iter_rows(path)
    cols = _resolve_columns(columns, spec, path)
    base = path.resolve().parent
    report = CatalogReport()
    products: list[Product] = []
    seen: set[str] = set()
    for row_no, row in rows:
        report.rows_read += 1
        pid = clean_text(row.get(cols["id_col"]))
        where = f"{path.name} row {row_no}"
        text = " ".join(t for t in (clean_text(row.get(c)) for c in cols["text_cols"]) if t)
        image = _resolve_image(row.get(cols["image_col"]), base) if cols["image_col"] else None
        if image is not None and not Path(image).is_file():
            report.missing_images += 1
            report.note("missing_images", f"{where}: {image}")
            if spec.strict:
                raise CatalogError(f"{where}: image file not found: {image} (drop --strict to keep the product with text only)")
            image = None
        tags: list[str] = []
        if cols["tags_col"]:
            tags.extend(parse_tag_list(row.get(cols["tags_col"])))
        for col in cols["facet_cols"]:
            value = clean_text(row.get(col))
            if value:
                tags.append(f"{col}:{value}")
        product = Product(id=pid, text=text, image=image, tags=unique(tags))
        if purpose == "query":
            if not pid:
                product.problem = "empty id"
            elif not text and not image:
                product.problem = "no text and no readable image"
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
    return products, report


def spec_from_manifest(columns: dict, **overrides) -> CatalogSpec:
    """The column mapping an index was built with, with any options the user gave on top."""
    base = CatalogSpec(
        id_col=columns.get("id_col"),
        text_cols=columns.get("text_cols"),
        image_col=columns.get("image_col"),
        tags_col=columns.get("tags_col"),
        facet_cols=columns.get("facet_cols") or (),
    )
    for key, value in overrides.items():
        if value:
            setattr(base, key, value)
    return base
