"""Tags that form a tree, and picking a consistent path of them jointly.

Two things make the catalog's tags a tree: a category-path column (``--category-col``:
facets ``category1..categoryN`` and the full path ``category``, see tags.path_tags), and
facets nested in the catalog, learned from co-occurrence (every value of one facet lies
under one value of a coarser facet, as fashion's articleType under subCategory under
masterCategory). Either way the tree is kept as *paths*: each a root-first list of tag
columns that may be returned together. A path column's paths are the distinct paths its
products carry; nested facets give one path per value (the value and its ancestors).

:func:`decode` turns (queries x tags) scores into consistent ones: per group of facets it
picks the path with the highest sum of scores (the expected number of right levels when
scores are probabilities: the decision that maximises level accuracy under the
constraint; a path column's full-path tag carries where products end). It keeps only
the chosen path's tags in the group's facets and gives each node the best score at or
below it on the path, so scores never rise with depth (the rule of vocab/taxonomy.py).
Numpy in, numpy out. Chosen on catalog products left out of their own neighbours
(benchmarks/hierarchy.py): normalising each facet's scores, summing logs, greedy
descent, and a "nothing below" term for nested paths that stop early all did no better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from retrieval_tagger.tags import TagSet

# a finer facet is nested in a coarser one when at least 95% of the products carrying
# both carry its value's usual parent value: in the middle of the gap the two benchmark
# catalogs show (nested: fashion's subCategory in masterCategory 0.9997, articleType in
# subCategory 0.9979, amazon_uk's level2 in level1 0.980, where a few names such as
# "Accessories" recur under several parents; the best unrelated pair, fashion's
# articleType in usage, 0.908)
NESTING_TOLERANCE = 0.05
MIN_SHARED = 20  # products carrying both facets, below which no nesting is learned
FILES = ("hierarchy_indptr.npy", "hierarchy_indices.npy", "hierarchy_groups.npy")
_BLOCK = 4096  # queries decoded at once: bounds the (queries x paths) matrix


@dataclass
class Hierarchy:
    """Paths of tag columns (CSR rows, root first), the group of each path, and a
    description per group (kind, facets, sizes) as the manifest records it."""

    indptr: np.ndarray
    indices: np.ndarray
    group_of: np.ndarray
    groups: list[dict]
    _arrays: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.group_of)

    def path(self, p: int) -> np.ndarray:
        return self.indices[self.indptr[p]:self.indptr[p + 1]]

    def arrays(self, g: int, n_tags: int) -> tuple[np.ndarray, sparse.csr_matrix, np.ndarray]:
        """Group ``g``'s paths as a padded (paths x depth) column matrix (-1 past the end),
        its (paths x tags) membership, and the tag columns it spans."""
        key = (g, n_tags)
        if key not in self._arrays:
            rows = np.flatnonzero(self.group_of == g)
            paths = [self.path(p) for p in rows]
            padded = np.full((len(paths), max(len(p) for p in paths)), -1, dtype=np.int64)
            for i, p in enumerate(paths):
                padded[i, :len(p)] = p
            mask = padded >= 0
            rows, cols, values = np.nonzero(mask)[0], padded[mask], np.ones(int(mask.sum()), np.float32)
            membership = sparse.csr_matrix((values, (rows, cols)), shape=(len(paths), n_tags))
            self._arrays[key] = (padded, membership, np.unique(padded[mask]))
        return self._arrays[key]

    def save(self, folder: Path) -> dict:
        """Write the arrays into ``folder`` (an index being built); the manifest section."""
        for name, array in zip(FILES, (self.indptr, self.indices, self.group_of)):
            np.save(folder / name, array.astype(np.int64))
        return {"groups": self.groups, "files": list(FILES)}

    @classmethod
    def from_arrays(cls, indptr: np.ndarray, indices: np.ndarray, group_of: np.ndarray, groups: list[dict], n_tags: int) -> "Hierarchy":
        """Stored arrays, checked: ValueError says what is wrong with them."""
        if len(indptr) != len(group_of) + 1 or indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 1).any():
            raise ValueError("its path offsets do not cut its columns into non-empty paths")
        if len(indices) and (indices.min() < 0 or indices.max() >= n_tags):
            raise ValueError(f"it names tags outside the vocabulary's {n_tags}")
        if len(group_of) and (group_of.min() < 0 or group_of.max() >= len(groups)):
            raise ValueError(f"it names groups outside its {len(groups)}")
        return cls(indptr.astype(np.int64), indices.astype(np.int64), group_of.astype(np.int64), groups)


def decode(scores: np.ndarray, hierarchy: Hierarchy | None) -> np.ndarray:
    """``scores`` (queries x tags) with each group's facets reduced to its best path
    (module docstring); the input is not changed. Without a hierarchy: ``scores``."""
    if hierarchy is None or not len(hierarchy) or not len(scores):
        return scores
    out = np.array(scores, dtype=np.float32, copy=True)
    for g in range(len(hierarchy.groups)):
        padded, membership, members = hierarchy.arrays(g, out.shape[1])
        for start in range(0, len(out), _BLOCK):
            block = out[start:start + _BLOCK]
            best = np.argmax(np.asarray(membership @ block.T).T, axis=1)
            chosen = padded[best]  # (queries x depth), -1 past each path's end
            rows = np.broadcast_to(np.arange(len(block))[:, None], chosen.shape)
            on = chosen >= 0
            values = np.where(on, block[rows, np.maximum(chosen, 0)], 0.0)
            values = np.maximum.accumulate(values[:, ::-1], axis=1)[:, ::-1]
            block[:, members] = 0.0
            block[rows[on], chosen[on]] = values[on]
    return out


def consistent(hierarchy: Hierarchy | None, scores: np.ndarray, vocab: TagSet) -> np.ndarray:
    """Per query, whether each facet's best value (scoring above 0) in every group lies on
    one stored path together: what a facet-exclusive selection of ``scores`` returns."""
    ok = np.ones(len(scores), dtype=bool)
    if hierarchy is None:
        return ok
    for g in range(len(hierarchy.groups)):
        _, membership, _ = hierarchy.arrays(g, scores.shape[1])
        chosen = np.zeros((len(scores), scores.shape[1]), dtype=np.float32)
        for cols in (vocab.facets[f] for f in hierarchy.groups[g]["facets"]):
            sub = scores[:, cols]
            best = np.argmax(sub, axis=1)
            hit = sub[np.arange(len(sub)), best] > 0
            chosen[np.flatnonzero(hit), cols[best[hit]]] = 1.0
        covered = np.asarray(membership @ chosen.T).T.max(axis=1)
        ok &= covered >= chosen.sum(axis=1)
    return ok


def learn(vocab: TagSet, product_tags: sparse.csr_matrix, path_columns: list[str] = (), nested: bool = True) -> Hierarchy | None:
    """The catalog's tree: the paths of each category-path column (facets ``COL1..`` and
    ``COL``, tags.path_tags), and, with ``nested``, chains of nested facets learned from
    co-occurrence. None when there is neither."""
    binary = (product_tags > 0).astype(np.float32).tocsc()
    groups, paths = [], []
    used: set[str] = set()
    for column in path_columns:
        facets = path_facets(column, vocab)
        if facets:
            found, group = _path_group(column, facets, vocab, binary)
            groups.append(group)
            paths.append(found)
            used.update(facets)
    if nested:
        for chain, agreement, parent in _nested_chains(vocab, binary, used):
            found = _chains_of(chain, vocab, parent)
            paths.append(found)
            groups.append({"kind": "nested", "facets": chain, "agreement": [round(a, 4) for a in agreement], "paths": len(found),
                           "depth": len(chain)})
    if not groups:
        return None
    lengths = [len(p) for found in paths for p in found]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.asarray([c for found in paths for p in found for c in p], dtype=np.int64)
    group_of = np.concatenate([np.full(len(found), g, dtype=np.int64) for g, found in enumerate(paths)])
    return Hierarchy(indptr, indices, group_of, groups)


def path_facets(column: str, vocab: TagSet) -> list[str]:
    """The facets a path column gave: ``COL1``, ``COL2``, ... while present, then ``COL``."""
    facets = []
    while f"{column}{len(facets) + 1}" in vocab.facets:
        facets.append(f"{column}{len(facets) + 1}")
    return facets + [column] if facets and column in vocab.facets else []


def _path_group(column: str, facets: list[str], vocab: TagSet, binary: sparse.csc_matrix) -> tuple[list[tuple], dict]:
    """The distinct paths products carry in ``facets`` (levels then the full path)."""
    levels = np.full((binary.shape[0], len(facets)), -1, dtype=np.int64)  # each product's column per level
    for rank, f in enumerate(facets):
        sub = binary[:, vocab.facets[f]]
        carried = np.asarray(sub.sum(axis=1)).ravel() > 0
        levels[carried, rank] = vocab.facets[f][np.asarray(sub[carried].argmax(axis=1)).ravel()]
    paths = sorted(tuple(int(c) for c in row if c >= 0) for row in np.unique(levels[(levels >= 0).any(axis=1)], axis=0))
    nodes = {p[:k] for p in paths for k in range(1, len(p))}  # prefixes of the levels, the full-path tag left out
    return paths, {"kind": "path", "column": column, "facets": facets, "nodes": len(nodes), "paths": len(paths),
                   "depth": len(facets) - 1}


def _nested_chains(vocab: TagSet, binary: sparse.csc_matrix, skip: set[str]) -> list[tuple[list[str], list[float], dict]]:
    """Chains of facets, coarsest first, each nested in the one before, with the agreement
    of each link and each value's parent column. A facet's parent is the finest facet it
    is nested in; a facet keeps its finest nested child only, so groups stay chains."""
    facets = [f for f, cols in vocab.facets.items() if f not in skip and len(cols) > 1]
    links: dict[str, tuple[str, float, dict]] = {}
    for child in facets:
        for parent in facets:
            fine, coarse = vocab.facets[child], vocab.facets[parent]
            if len(coarse) >= len(fine) or (child in links and len(vocab.facets[links[child][0]]) >= len(coarse)):
                continue
            shared = (binary[:, coarse].T @ binary[:, fine]).tocsc()  # (coarse values x fine values)
            total = float(shared.sum())
            agreement = float(shared.max(axis=0).sum()) / total if total else 0.0
            if total >= MIN_SHARED and agreement >= 1 - NESTING_TOLERANCE:
                carried = np.asarray(shared.sum(axis=0)).ravel() > 0
                top = np.asarray(shared.argmax(axis=0)).ravel()
                links[child] = (parent, agreement, {int(c): int(coarse[t]) for c, t, k in zip(fine, top, carried) if k})
    kept: dict[str, str] = {}  # parent facet -> its finest child
    for child, (parent, _, _) in links.items():
        if parent not in kept or len(vocab.facets[child]) > len(vocab.facets[kept[parent]]):
            kept[parent] = child
    chains = []
    for root in [f for f in kept if f not in links or kept.get(links[f][0]) != f]:
        chain, agreement, parent = [root], [], {}
        while chain[-1] in kept:
            child = kept[chain[-1]]
            chain.append(child)
            agreement.append(links[child][1])
            parent.update(links[child][2])
        chains.append((chain, agreement, parent))
    return chains


def _chains_of(chain: list[str], vocab: TagSet, parent: dict[int, int]) -> list[tuple]:
    """One path per value of the chain's facets: its ancestors, then itself."""
    paths = []
    for facet in chain:
        for col in vocab.facets[facet].tolist():
            path = [col]
            while path[0] in parent:
                path.insert(0, parent[path[0]])
            paths.append(tuple(path))
    return paths
