"""The catalog tag -> taxonomy node mapping as a file a human reviews (``rtag vocab map``).

One row per catalog facet tag: how many catalog products carry it, the node it maps to
best (Google id where the taxonomy file gives ids, and path) with its weight, the next
likeliest nodes, and whether a correction set it. To correct the mapping, edit ``node``
(a path of the taxonomy) or ``node_id`` in the rows that are wrong and load the file with
``--corrections``: rows whose node differs from the computed one, or marked ``corrected``
``yes``, are stored with the vocabulary and used when tagging.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from retrieval_tagger import artifacts
from retrieval_tagger.errors import VocabError
from retrieval_tagger.vocab import bridge, catalog_map, stored
from retrieval_tagger.vocab.catalog_map import CatalogMap
from retrieval_tagger.vocab.tagging import VocabRun

COLUMNS = ["catalog_tag", "products", "node_id", "node", "weight", "alternatives", "corrected"]
ALTERNATIVES = 3


def mapping_rows(vocab, cmap: CatalogMap, entries) -> list[dict]:
    """The review rows of a mapping (``vocab``: the index's TagSet; ``entries``: the taxonomy's)."""
    rows = []
    for cols in cmap.groups:
        for col in cols:
            top = cmap.top(int(col), ALTERNATIVES + 1)
            if not top:
                continue
            node, weight = top[0]
            rows.append({"catalog_tag": vocab.tags[col], "products": vocab.counts[col], "node_id": entries[node].node_id,
                         "node": entries[node].tag, "weight": f"{weight:.3f}",
                         "alternatives": " | ".join(f"{entries[n].tag} ({w:.2f})" for n, w in top[1:]),
                         "corrected": "yes" if cmap.corrected[col] else ""})
    return rows


def write_rows(path: str | Path, rows: list[dict]) -> None:
    """Save review rows as CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    with artifacts.atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")


def read_corrections(path: str | Path, computed: dict[str, str], entries) -> dict[str, str]:
    """Catalog tag -> node path from an edited review file: the rows whose node differs
    from ``computed`` (catalog tag -> the node computed without corrections) or that are
    marked corrected. ``node_id`` wins over ``node`` when it names a node."""
    path = Path(path)
    if not path.is_file():
        raise VocabError(f"corrections file not found: {path}")
    by_path = {e.tag for e in entries}
    by_id = {e.node_id: e.tag for e in entries if e.node_id}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "catalog_tag" not in reader.fieldnames or not {"node", "node_id"} & set(reader.fieldnames):
            raise VocabError(f"{path.name} needs a catalog_tag column and a node (taxonomy path) or node_id column, as `rtag vocab map --output` writes")
        found = {}
        for row in reader:
            tag, node_id, node = ((row.get(k) or "").strip() for k in ("catalog_tag", "node_id", "node"))
            where = f"{path.name} line {reader.line_num}"
            if tag not in computed:
                raise VocabError(f"{where}: {tag!r} is not a facet tag of the index; see `rtag vocab map` for the tags it has")
            target = by_id.get(node_id) or (node if node in by_path else None)
            if target is None:
                raise VocabError(f"{where}: node {node_id or node!r} is not in the taxonomy; give a node path or id of the file")
            if target != computed[tag] or (row.get("corrected") or "").strip().lower() == "yes":
                found[tag] = target
    return found


def review(opened, name: str, corrections: str | Path | None = None) -> tuple[list[dict], int | None]:
    """The review rows of stored taxonomy ``name`` mapped from index ``opened``'s facet
    tags, after storing the ``corrections`` file when given (then also how many it held)."""
    titles = bridge.catalog_titles(opened)
    run = VocabRun.prepare(opened, name, titles)
    if run.mapping is None:
        raise VocabError(f"vocabulary {name!r} is not mapped through the catalog's tags: that needs a taxonomy, an index with "
                         "facet tags and product titles, and no tags shared with the vocabulary")
    stored_count = None
    if corrections is not None:
        plain = catalog_map.align(opened, run.stored.vectors["text"], run.stored.stats["text"], run.tree, titles)
        computed = {row["catalog_tag"]: row["node"] for row in mapping_rows(opened.vocab, plain, run.stored.entries)}
        found = read_corrections(corrections, computed, run.stored.entries)
        stored.save_corrections(opened, name, found)
        stored_count = len(found)
        run = VocabRun.prepare(opened, name, titles)
    return mapping_rows(opened.vocab, run.mapping, run.stored.entries), stored_count
