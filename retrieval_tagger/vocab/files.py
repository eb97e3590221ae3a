"""Read tag vocabulary files for zero-shot tagging (``rtag vocab add``).

Formats, detected from the file (or named with ``fmt``):

- ``list``: one tag per line; ``facet:value`` lines form exclusive facets, other lines
  are free tags. ``#`` starts a comment line.
- ``csv``: a header with a ``tag`` column and optional ``facet``, ``description`` and
  ``synonyms`` (``|``-separated) columns.
- ``taxonomy``: one path per line, ``Apparel & Accessories > Clothing > Shirts & Tops``,
  optionally preceded by a numeric id (``212 - ...``), as in widely used product
  taxonomies. Every ancestor must be listed before its descendants.
- ``taxonomy-csv``: columns ``id``, ``name``, ``parent`` (the parent's id, empty for
  roots), optional ``description`` and ``synonyms``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from retrieval_tagger.errors import VocabError
from retrieval_tagger.language import detect as detect_language

FORMATS = ("auto", "list", "csv", "taxonomy", "taxonomy-csv")
PATH_SEP = " > "
_ID_PREFIX = re.compile(r"^(\d+)\s+-\s+(.*)$")


@dataclass
class Entry:
    tag: str  # what tagging outputs: the tag, or a taxonomy node's full path
    name: str  # what is embedded: the value of a facet tag, a node's own name
    description: str = ""
    synonyms: list[str] = field(default_factory=list)
    parent: int = -1  # taxonomy: row of the parent entry, -1 for roots and non-taxonomy tags
    node_id: str = ""
    line: int = 0

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", [], None) or k in ("tag", "name", "parent")}


@dataclass
class VocabDefinition:
    kind: str  # "tags" or "taxonomy"
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)  # what was skipped, for the user

    @property
    def tags(self) -> list[str]:
        return [e.tag for e in self.entries]

    @property
    def language(self) -> str:
        """The language of the tag names as their script tells it: zh, ja, ko, or en for
        any other script (language.detect); it picks the prompt templates (stored.py)."""
        return detect_language([e.name for e in self.entries])[0]


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise VocabError(f"{path.name} line {line}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    return text


def _detect(path: Path, text: str) -> str:
    if path.suffix.lower() in (".csv", ".tsv"):
        header = text.splitlines()[0].lower() if text.strip() else ""
        return "taxonomy-csv" if "parent" in header and "tag" not in header.split(",") else "csv"
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return "taxonomy" if any(PATH_SEP.strip() in ln for ln in lines) else "list"


def read_vocab_file(path: str | Path, fmt: str = "auto") -> VocabDefinition:
    """Parse a vocabulary file; malformed content raises VocabError naming the line."""
    path = Path(path)
    if fmt not in FORMATS:
        raise VocabError(f"unknown vocabulary format {fmt!r}; valid: {', '.join(FORMATS)}")
    if not path.is_file():
        raise VocabError(f"vocabulary file not found: {path}")
    text = _decode(path)
    kind = _detect(path, text) if fmt == "auto" else fmt
    definition = {"list": _read_list, "csv": _read_csv, "taxonomy": _read_taxonomy, "taxonomy-csv": _read_taxonomy_csv}[kind](path, text)
    if not definition.entries:
        raise VocabError(f"{path.name} holds no tags")
    return definition


def _check_duplicate(seen: dict, key: str, path: Path, line: int, what: str = "tag") -> None:
    if key in seen:
        raise VocabError(f"{path.name} line {line}: duplicate {what} {key!r} (first on line {seen[key]}); remove one of them")
    seen[key] = line


def _blank_note(path: Path, blanks: list[int]) -> list[str]:
    if not blanks:
        return []
    shown = ", ".join(map(str, blanks[:5])) + (" ..." if len(blanks) > 5 else "")
    return [f"{path.name}: skipped {len(blanks)} empty line(s): {shown}"]


def _read_list(path: Path, text: str) -> VocabDefinition:
    from retrieval_tagger.tags import split_facet

    entries, seen, blanks = [], {}, []
    for no, raw in enumerate(text.splitlines(), 1):
        tag = " ".join(raw.split())
        if not tag:
            blanks.append(no)
            continue
        if tag.startswith("#"):
            continue
        if PATH_SEP.strip() in tag:
            raise VocabError(f"{path.name} line {no}: {tag!r} looks like a taxonomy path; use --format taxonomy, or remove '>'")
        _check_duplicate(seen, tag, path, no)
        entries.append(Entry(tag=tag, name=split_facet(tag)[1], line=no))
    return VocabDefinition("tags", entries, _blank_note(path, blanks))


def _csv_rows(path: Path, text: str, required: tuple[str, ...]) -> tuple[list[str], list[tuple[int, dict]]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    missing = [c for c in required if c not in columns]
    if missing:
        raise VocabError(f"{path.name}: no {', '.join(missing)} column; its columns are: {', '.join(columns) or '(none)'}")
    rows = []
    for row in reader:
        clean = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        rows.append((reader.line_num, clean))
    return columns, rows


def _synonyms(value: str) -> list[str]:
    return [s.strip() for s in re.split(r"[|;]", value) if s.strip()]


def _read_csv(path: Path, text: str) -> VocabDefinition:
    _, rows = _csv_rows(path, text, ("tag",))
    entries, seen, blanks = [], {}, []
    for no, row in rows:
        name = " ".join(row.get("tag", "").split())
        if not name:
            blanks.append(no)
            continue
        facet = row.get("facet", "")
        if facet and (" " in facet or ":" in facet):
            raise VocabError(f"{path.name} line {no}: facet {facet!r} must be one word without ':'")
        tag = f"{facet}:{name}" if facet else name
        _check_duplicate(seen, tag, path, no)
        entries.append(Entry(tag=tag, name=name, description=row.get("description", ""), synonyms=_synonyms(row.get("synonyms", "")), line=no))
    return VocabDefinition("tags", entries, _blank_note(path, blanks))


def _read_taxonomy(path: Path, text: str) -> VocabDefinition:
    entries, rows_by_path, seen, blanks = [], {}, {}, []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            blanks.append(no)
            continue
        if line.startswith("#"):
            continue
        node_id = ""
        match = _ID_PREFIX.match(line)
        if match:
            node_id, line = match.groups()
        parts = [" ".join(p.split()) for p in line.split(PATH_SEP.strip())]
        if any(not p for p in parts):
            raise VocabError(f"{path.name} line {no}: empty segment in path {line!r}")
        full = PATH_SEP.join(parts)
        _check_duplicate(seen, full, path, no, "path")
        parent = -1
        if len(parts) > 1:
            parent_path = PATH_SEP.join(parts[:-1])
            if parent_path not in rows_by_path:
                raise VocabError(
                    f"{path.name} line {no}: the parent {parent_path!r} of {full!r} is not listed above it "
                    "(orphan node); add the parent's own line first"
                )
            parent = rows_by_path[parent_path][0]
        rows_by_path[full] = (len(entries), no)
        entries.append(Entry(tag=full, name=parts[-1], parent=parent, node_id=node_id, line=no))
    return VocabDefinition("taxonomy", entries, _blank_note(path, blanks))


def _read_taxonomy_csv(path: Path, text: str) -> VocabDefinition:
    _, rows = _csv_rows(path, text, ("id", "name", "parent"))
    by_id, seen, blanks = {}, {}, []
    for no, row in rows:
        if not row.get("id") and not row.get("name"):
            blanks.append(no)
            continue
        if not row.get("id") or not row.get("name"):
            raise VocabError(f"{path.name} line {no}: every node needs an id and a name")
        _check_duplicate(seen, row["id"], path, no, "id")
        by_id[row["id"]] = (no, row)
    for node, (no, row) in by_id.items():
        if row["parent"] and row["parent"] not in by_id:
            raise VocabError(f"{path.name} line {no}: parent id {row['parent']!r} of {row['name']!r} does not exist (orphan node)")
    order, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            cycle = trail[trail.index(node):] + [node]
            raise VocabError(f"{path.name} line {by_id[node][0]}: the parent ids form a cycle: {' -> '.join(cycle)}")
        state[node] = "open"
        parent = by_id[node][1]["parent"]
        if parent:
            visit(parent, trail + [node])
        state[node] = "done"
        order.append(node)

    for node in by_id:
        visit(node, [])
    entries, row_of, paths, seen_paths = [], {}, {}, {}
    for node in order:
        no, row = by_id[node]
        name = " ".join(row["name"].split())
        parent = row_of.get(row["parent"], -1)
        full = f"{paths[row['parent']]}{PATH_SEP}{name}" if row["parent"] else name
        _check_duplicate(seen_paths, full, path, no, "path")
        paths[node] = full
        row_of[node] = len(entries)
        entries.append(Entry(tag=full, name=name, description=row.get("description", ""),
                             synonyms=_synonyms(row.get("synonyms", "")), parent=parent, node_id=node, line=no))
    return VocabDefinition("taxonomy", entries, _blank_note(path, blanks))
