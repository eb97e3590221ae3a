"""Taxonomies: tags in a tree, predicted as whole paths so a node always comes with its
ancestors.

Each node's calibrated zero-shot score (a z-score) is averaged along its path from the
root; the best path ends at a leaf, and ``depth`` cuts it afterwards. With an ancestor matrix
this is one sparse matrix product for any number of nodes.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


class Tree:
    """Parent links of a taxonomy whose parents come before their children."""

    def __init__(self, parents: list[int] | np.ndarray):
        self.parents = np.asarray(parents, dtype=np.int64)
        n = len(self.parents)
        self.depth = np.zeros(n, dtype=np.int64)
        rows, cols = [], []
        for node in range(n):
            parent = self.parents[node]
            if parent >= node:
                raise ValueError(f"node {node} comes before its parent {parent}")
            self.depth[node] = self.depth[parent] + 1 if parent >= 0 else 0
            # ancestors-or-self of node, as rows of column `node`
            walk = node
            while walk >= 0:
                rows.append(walk)
                cols.append(node)
                walk = self.parents[walk]
        self.ancestors = sparse.csc_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))
        self.has_children = np.zeros(n, dtype=bool)
        self.has_children[self.parents[self.parents >= 0]] = True

    def __len__(self) -> int:
        return len(self.parents)

    def path(self, node: int) -> list[int]:
        """Root-to-node list of nodes."""
        out = []
        while node >= 0:
            out.append(int(node))
            node = self.parents[node]
        return out[::-1]

    def leaves(self) -> np.ndarray:
        """Nodes a predicted path ends at."""
        return np.flatnonzero(~self.has_children)


def path_scores(z: np.ndarray, tree: Tree) -> np.ndarray:
    """Mean of the node scores along each node's root path (products x nodes)."""
    summed = np.asarray((tree.ancestors.T @ np.asarray(z, dtype=np.float32).T).T)
    return summed / (tree.depth + 1)[None, :]


def best_paths(z: np.ndarray, tree: Tree) -> tuple[np.ndarray, np.ndarray]:
    """The leaf ending each product's best path, and the path-mean score of every node
    (products x nodes). A path cut at some depth is still chosen by its whole length:
    evidence for a deep node is evidence for its ancestors."""
    means = path_scores(z, tree)
    leaves = tree.leaves()
    best = leaves[np.argmax(means[:, leaves], axis=1)] if len(z) else np.zeros(0, np.int64)
    return best, means


def subtree_mass(weights: np.ndarray, tree: Tree) -> np.ndarray:
    """(products x nodes) sum of ``weights`` over each node's subtree: with a distribution
    over nodes, the chance of lying under each node, never rising with depth."""
    return np.asarray((tree.ancestors @ np.asarray(weights, dtype=np.float32).T).T, dtype=np.float32)


def path_softmax(z: np.ndarray, tree: Tree, temperature: float) -> np.ndarray:
    """A distribution over nodes from z-like node scores: a softmax of their root-path means."""
    means = path_scores(z, tree) / temperature
    weights = np.exp(means - means.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def greedy_paths(mass: np.ndarray, tree: Tree) -> list[list[int]]:
    """Each product's path down the tree by subtree mass: from the likeliest root into the
    likeliest child, to a leaf. Consistent by construction."""
    n = len(mass)
    current = np.full(n, -1, dtype=np.int64)
    paths: list[list[int]] = [[] for _ in range(n)]
    for depth in range(int(tree.depth.max()) + 1 if len(tree) else 0):
        nodes = np.flatnonzero(tree.depth == depth)
        allowed = tree.parents[nodes][None, :] == current[:, None]
        candidate = np.where(allowed, mass[:, nodes], -np.inf)
        best = np.argmax(candidate, axis=1)
        moving = np.isfinite(candidate[np.arange(n), best])
        current = np.where(moving, nodes[best], current)
        for i in np.flatnonzero(moving):
            paths[i].append(int(current[i]))
    return paths
