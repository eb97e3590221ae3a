"""Catalog files: the format of a file and its rows, each with the line it starts on.

CSV and TSV are read strictly: quoting that would swallow or split rows is an error that
names the line where the bad record starts (README, "Catalog format"); a file that is not
UTF-8 is refused with the offset of the first bad byte in the file and its line. Readers
yield rows as dicts; cleaning and validation are catalog.py's.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sys
from pathlib import Path
from typing import Iterator, Sequence

from retrieval_tagger.errors import CatalogError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def json_value(text: str, kind: type, where: str, expected: str):
    """``text`` parsed as JSON, which must give a ``kind``; errors start with ``where``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{where} is not valid JSON ({exc.msg}): it must be {expected}") from exc
    if not isinstance(value, kind):
        raise CatalogError(f"{where} is JSON but not {expected}")
    return value


def detect_format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_FORMATS))
        raise CatalogError(f"cannot tell the format of {path.name}: use one of the extensions {known}")
    return fmt


def iter_rows(path: Path, columns: Sequence[str] | None = None) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The column names of a catalog file and its rows as (line number, dict) pairs: the
    physical line a row starts on (its row number in a Parquet file).

    ``columns`` names the columns of a CSV or TSV file that has no header row: its first
    line is then a row like the others."""
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    fmt = detect_format(path)
    if columns is not None:
        if fmt not in ("csv", "tsv"):
            raise CatalogError(f"{path.name} is {fmt}, whose rows name their columns: --no-header and --columns are for CSV and TSV files")
        if len(set(columns)) != len(columns) or not all(columns):
            raise CatalogError(f"--columns {','.join(columns)} repeats a name or leaves one empty: give each column its own name")
        return list(columns), _named_rows(_delimited_records(path, _DELIMITERS[fmt], len(columns)), list(columns))
    return _READERS[fmt](path)


def _iter_delimited(path: Path, delimiter: str) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    records = _delimited_records(path, delimiter)
    first = next(records, None)
    if first is None:
        raise CatalogError(f"{path} is empty: expected a header row")
    return first[1], _named_rows(records, first[1])


def _named_rows(records: Iterator[tuple[int, list[str]]], columns: list[str]) -> Iterator[tuple[int, dict]]:
    return ((line, dict(zip(columns, fields))) for line, fields in records)


def _delimited_records(path: Path, delimiter: str, width: int = 0) -> Iterator[tuple[int, list[str]]]:
    """The header and the records of a CSV/TSV file, each with the line it starts on
    (only the records when ``width``, the number of columns of a file without a header).

    Quoting is read strictly and every record must have the header's number of fields, so
    a stray quote that would swallow the rows after it is an error naming its line (see
    README, "Catalog format"); blank lines are skipped.
    """
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    kind = "CSV" if delimiter == "," else "TSV"
    header_line = 0  # 0: the width comes from --columns
    with _utf8_checked(path), path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        while True:
            start = reader.line_num + 1  # csv.reader reads at least one line per record
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise CatalogError(_quoting_error(path, kind, start, reader.line_num, str(exc))) from exc
            if len(fields) <= 1 and not "".join(fields).strip():
                continue
            if not width:
                width, header_line = len(fields), start
            elif len(fields) != width:
                raise CatalogError(_width_error(path, kind, start, reader.line_num, len(fields), width, header_line))
            elif reader.line_num > start and width > 1 and _rows_inside(fields, delimiter, width) >= 2:
                raise CatalogError(
                    f"{path} line {start}: a quoted field runs to line {reader.line_num} and holds whole lines that read as rows "
                    "of their own, so a stray quote (\") has swallowed the rows after it: remove the stray quote, "
                    'or write a quote inside a quoted field as ""'
                )
            yield start, fields


def _rows_inside(fields: list[str], delimiter: str, width: int) -> int:
    """How many whole lines inside multi-line fields have ``width`` fields of their own."""
    inner = [line for f in fields if "\n" in f or "\r" in f for line in _LINE_BREAK.split(f)[1:-1] if line]
    return sum(len(next(csv.reader([line], delimiter=delimiter))) == width for line in inner)


def _quoting_error(path: Path, kind: str, start: int, at: int, why: str) -> str:
    if "unexpected end of data" in why:
        problem = "a quoted field that starts in this record is never closed (the file ends inside it)"
    else:
        problem = f"bad quoting at line {at} ({why})"
    return (f"{path} line {start}: {problem}: a {kind} field that starts with a quote (\") must end with one; remove a stray "
            'quote, or write a quote inside a quoted field as ""')


def _width_error(path: Path, kind: str, start: int, end: int, n: int, width: int, header_line: int) -> str:
    sep = "comma" if kind == "CSV" else "tab"
    header = f"the header (line {header_line}) has" if header_line else "--columns names"
    if end > start:
        hint = f"the record runs to line {end}, so a quote is probably missing or stray"
    elif n > width:
        hint = f"quote the fields that contain a {sep}"
    else:
        hint = f"give every row {width} fields, empty ones too"
    return f"{path} line {start}: {n} fields where {header} {width}: {hint}"


@contextlib.contextmanager
def _utf8_checked(path: Path) -> Iterator[None]:
    """Turns a UnicodeDecodeError while reading ``path`` into an error that gives the
    offset of the bad byte in the file and its line (a decoder only knows its buffer)."""
    try:
        yield
    except UnicodeDecodeError as exc:
        offset, line, bad = _first_bad_utf8(path)
        raise CatalogError(
            f"{path} is not valid UTF-8: byte {offset} (line {line}) is {bad!r}: re-save it as UTF-8"
        ) from exc


def _first_bad_utf8(path: Path, chunk: int = 1 << 20) -> tuple[int, int, bytes]:
    """Offset, line and bytes of the first invalid UTF-8 sequence in ``path``, read in chunks."""
    done, line, carry = 0, 1, b""
    with path.open("rb") as fh:
        while True:
            more = fh.read(chunk)
            data = carry + more
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as exc:
                if not (more and exc.end == len(data) and exc.reason == "unexpected end of data"):
                    return done + exc.start, line + data.count(b"\n", 0, exc.start), data[exc.start:exc.end]
                good = exc.start  # a character cut by the chunk's end: decode it with the next chunk
            if not more:
                return done + len(data), line + data.count(b"\n"), b""
            line += data.count(b"\n", 0, good)
            done, carry = done + good, data[good:]


def _iter_jsonl(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    rows = []
    with _utf8_checked(path), path.open(encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            rows.append((line_no, json_value(line, dict, f"{path}:{line_no}:", "a JSON object")))
    columns = list(dict.fromkeys(key for _, row in rows for key in row))
    return columns, iter(rows)


def _iter_parquet(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise CatalogError("reading Parquet needs pyarrow: pip install 'retrieval-tagger[parquet]'") from exc
    table = pq.read_table(path)
    return list(table.column_names), enumerate(table.to_pylist(), 1)


_DELIMITERS = {"csv": ",", "tsv": "\t"}
# format -> reader of (columns, (line, row) pairs); a new format is a reader here and its extensions in _FORMATS
_READERS = {
    "csv": lambda path: _iter_delimited(path, _DELIMITERS["csv"]),
    "tsv": lambda path: _iter_delimited(path, _DELIMITERS["tsv"]),
    "jsonl": _iter_jsonl,
    "parquet": _iter_parquet,
}
