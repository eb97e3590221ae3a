"""The catalog's own tags: their order, frequencies and facets (a stored vocabulary for
zero-shot tagging is another thing: see vocab/).

A tag ``facet:value`` belongs to the facet ``facet`` (values of one facet exclude each
other); any other tag is a free tag. Spellings of one tag that differ only in case or
spacing are merged as a catalog is read (merge_spellings).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from typing import Sequence

import numpy as np

PATH_SEP = " > "  # how the full path of a category-path column is written in its tag

def split_facet(tag: str) -> tuple[str | None, str]:
    """``"gender:Men"`` -> ``("gender", "Men")``; a free tag -> ``(None, tag)``."""
    facet, sep, value = tag.partition(":")
    if sep and facet and value and " " not in facet:
        return facet, value
    return None, tag


def path_nodes(text: str, sep: str = PATH_SEP, drop: re.Pattern | None = None, drop_last: bool = False, depth: int | None = None) -> list[str]:
    """The nodes of a category path (``"Toys > Puzzles > Jigsaws"``), cleaned of noise a
    user described: nodes that ``drop`` matches in full, the last node (``drop_last``, for
    paths that end with the product's own name), nodes past ``depth``. Text arrives
    cleaned (catalog.clean_text); a separator with spaces around it matches without them."""
    nodes = [n.strip() for n in text.split(sep.strip() or sep)]
    nodes = [n for n in nodes if n and not (drop is not None and drop.fullmatch(n))]
    if drop_last:
        nodes = nodes[:-1]
    return nodes[:depth] if depth else nodes


def path_tags(column: str, nodes: list[str]) -> list[str]:
    """A path's tags: ``COL1:first node`` .. ``COLn:last node``, then ``COL:`` the full path."""
    if not nodes:
        return []
    return [f"{column}{level}:{node}" for level, node in enumerate(nodes, 1)] + [f"{column}:{PATH_SEP.join(nodes)}"]


def normal_spelling(tag: str) -> str:
    """A facet tag without spaces around its parts (``"gender: Men"`` -> ``"gender:Men"``);
    any other tag as it is. Tags reach here cleaned (see catalog.clean_text)."""
    facet, sep, value = tag.partition(":")
    facet, value = facet.strip(), value.strip()
    if sep and facet and value and " " not in facet:
        return f"{facet}:{value}"
    return tag


def _spelling_key(tag: str) -> tuple[str | None, str]:
    """What spellings of one tag share: the facet name as written, the value up to case."""
    facet, value = split_facet(normal_spelling(tag))
    return facet, value.casefold()


def merge_spellings(tag_lists: list[list[str]], known: Sequence[str] = ()) -> tuple[list[list[str]], list[tuple[str, str, int]]]:
    """Tag lists (each without repeats) with the spellings of each tag that differ only in
    case or spacing merged.

    Within one facet (facet names are column names: never merged), and among free tags, the
    values equal up to case and spaces around ``:`` become one spelling: a ``known`` one
    (the index's tags, for files read at query time) or else the spelling most products
    carry (the first seen on ties). Returns the new lists and, per merged spelling,
    ``(spelling, the spelling it became, products that carried it)``.
    """
    carried = Counter(chain.from_iterable(tag_lists))  # products per spelling, in first-seen order
    normal: Counter = Counter()  # products per spelling without spaces around ':', in first-seen order
    for tag, n in carried.items():
        normal[normal_spelling(tag)] += n
    chosen: dict[tuple[str | None, str], str] = {}
    for tag in known:
        chosen.setdefault(_spelling_key(tag), tag)
    for tag, _ in normal.most_common():  # stable: ties keep first-seen order
        chosen.setdefault(_spelling_key(tag), tag)
    rename = {t: chosen[_spelling_key(t)] for t in carried if chosen[_spelling_key(t)] != t}
    if not rename:
        return tag_lists, []
    merged = [tags if rename.keys().isdisjoint(tags) else list(dict.fromkeys(rename.get(t, t) for t in tags)) for tags in tag_lists]
    return merged, [(t, new, carried[t]) for t, new in rename.items()]


@dataclass
class TagSet:
    """Tags in a fixed order (most frequent first) with their catalog frequencies."""

    tags: list[str]
    counts: list[int]
    index: dict[str, int] = field(init=False)
    facets: dict[str, np.ndarray] = field(init=False)  # facet -> column numbers of its values
    free: np.ndarray = field(init=False)  # column numbers of free tags

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tags)}
        groups: dict[str, list[int]] = {}
        free = []
        for i, tag in enumerate(self.tags):
            facet, _ = split_facet(tag)
            if facet is None:
                free.append(i)
            else:
                groups.setdefault(facet, []).append(i)
        self.facets = {f: np.asarray(cols, dtype=np.int64) for f, cols in groups.items()}
        self.free = np.asarray(free, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.tags)

    @classmethod
    def from_tag_lists(cls, tag_lists: list[list[str]]) -> "TagSet":
        counts = Counter(t for tags in tag_lists for t in tags)
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls([t for t, _ in ordered], [c for _, c in ordered])

    def to_json(self) -> list[dict]:
        return [{"tag": t, "count": c} for t, c in zip(self.tags, self.counts)]

    @classmethod
    def from_json(cls, items: list[dict]) -> "TagSet":
        return cls([it["tag"] for it in items], [int(it["count"]) for it in items])

    def encode_lists(self, tag_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Tag lists as CSR arrays (indptr, indices); unknown tags are left out."""
        indptr = np.zeros(len(tag_lists) + 1, dtype=np.int64)
        indices = []
        for row, tags in enumerate(tag_lists):
            cols = [self.index[t] for t in tags if t in self.index]
            indices.extend(cols)
            indptr[row + 1] = indptr[row] + len(cols)
        return indptr, np.asarray(indices, dtype=np.int64)

    def display_texts(self) -> list[str]:
        """The words that describe each tag, for embedding it (the value of a facet tag)."""
        return [split_facet(t)[1] for t in self.tags]


def tag_groups(vocab: TagSet) -> list[np.ndarray]:
    """Column groups of competing tags: one per facet, plus one of all free tags."""
    groups = list(vocab.facets.values())
    if len(vocab.free):
        groups.append(vocab.free)
    return groups
