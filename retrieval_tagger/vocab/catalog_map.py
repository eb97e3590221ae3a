"""The catalog's own tags as a bridge to a new taxonomy (``rtag vocab map``).

Each facet tag of the catalog (``level2:Jigsaws``) gets a distribution over the taxonomy's
nodes from two kinds of evidence, both compared with the nodes' stored text vectors on the
calibrated scale of the ``text`` space (vocab_scores.calibrate):

- its products: the mean title vector of the catalog products that carry it (what the
  tag holds, whatever it is called);
- its name (the tag's value, embedded when the index was built).

A softmax of the combined evidence over the nodes keeps the best ``TOP_K``; a human's
corrections replace a tag's row by its corrected node. Decoding, not the mapping, keeps a
node with its ancestors (tagging.select: from the root into the likeliest child).

A product's neighbours vote on the catalog's tags (the index's own fused scores); within
each facet the votes are shares, so ``votes @ mapping`` is a distribution over nodes, and
its mass summed over each node's subtree is the chance the product belongs under that
node: it never rises with depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from retrieval_tagger.index.exact import inner_products
from retrieval_tagger.vocab import scores as vocab_scores
from retrieval_tagger.vocab.taxonomy import Tree, subtree_mass

TOP_K = 10  # nodes kept per catalog tag
NAME_WEIGHT = 0.5  # a tag's name against its products' mean title (weight 1)
TEMPERATURE = 0.25  # of the softmax over node scores (z units)


@dataclass
class CatalogMap:
    """Catalog facet tags -> taxonomy nodes."""

    matrix: sparse.csr_matrix  # (catalog tags x nodes); rows of mapped tags sum to 1, others are empty
    groups: list[np.ndarray]  # catalog columns of each facet
    corrected: np.ndarray  # bool per catalog tag: row set by a human correction

    def top(self, col: int, k: int = 3) -> list[tuple[int, float]]:
        """The ``k`` likeliest nodes of catalog column ``col``, with their weights."""
        row = self.matrix.getrow(col)
        order = np.argsort(-row.data, kind="stable")[:k]
        return [(int(row.indices[i]), float(row.data[i])) for i in order]


def prototypes(product_tags: sparse.csr_matrix, titles: np.ndarray) -> np.ndarray:
    """Unit mean title vector of each tag's products (zero rows for tags without titled products)."""
    has_text = (np.abs(titles).sum(axis=1) > 0).astype(np.float32)
    sums = np.asarray(product_tags.T @ (titles * has_text[:, None]))
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def evidence(index, node_vectors: np.ndarray, stats: np.ndarray, titles: np.ndarray) -> np.ndarray:
    """(catalog tags x nodes) calibrated z-scores of each tag's products and name against the nodes."""
    by_products = vocab_scores.calibrate(inner_products(prototypes(index.product_tags, titles), node_vectors), stats)
    names = index.vocab_vectors.get("text")
    if names is None:
        return by_products
    by_name = vocab_scores.calibrate(inner_products(np.asarray(names, np.float32), node_vectors), stats)
    return (by_products + NAME_WEIGHT * by_name) / (1.0 + NAME_WEIGHT)


def align(index, node_vectors: np.ndarray, stats: np.ndarray, tree: Tree, titles: np.ndarray,
          corrections: dict[str, int] | None = None) -> CatalogMap:
    """The mapping of the index's facet tags onto the taxonomy (``node_vectors``: its
    text-space vectors, ``stats``: its ``text`` calibration statistics); ``corrections``
    maps catalog tags to node rows and overrides what was computed for them."""
    vocab = index.vocab
    cols = np.concatenate([c for c in vocab.facets.values()]) if vocab.facets else np.zeros(0, np.int64)
    n_tags, n_nodes = len(vocab), len(tree)
    # a tag maps to the nodes it resembles themselves: averaging along the nodes' root
    # paths here (as zero-shot decoding does) measured worse on the Google evaluation set
    # (level-2 accuracy 0.58-0.61 against 0.64); decoding keeps the path consistent
    z = evidence(index, node_vectors, stats, titles)[cols] / TEMPERATURE
    k = min(TOP_K, n_nodes)
    top = np.argpartition(-z, k - 1, axis=1)[:, :k] if len(cols) else np.zeros((0, k), np.int64)
    picked = np.take_along_axis(z, top, axis=1)
    weights = np.exp(picked - picked.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    corrected = np.zeros(n_tags, dtype=bool)
    for tag, node in (corrections or {}).items():
        col = vocab.index.get(tag)
        where = np.flatnonzero(cols == col)
        if col is None or not len(where):
            continue
        top[where[0]] = node
        weights[where[0]] = 0.0
        weights[where[0], 0] = 1.0
        corrected[col] = True
    rows = np.repeat(cols, k)
    matrix = sparse.csr_matrix((weights.ravel().astype(np.float32), (rows, top.ravel())), shape=(n_tags, n_nodes))
    matrix.eliminate_zeros()
    return CatalogMap(matrix, [vocab.facets[f] for f in vocab.facets], corrected)


def node_mass(votes: np.ndarray, cmap: CatalogMap, tree: Tree) -> np.ndarray:
    """(products x nodes) chance each product lies in each node's subtree, from its
    catalog-tag ``votes`` (the index's fused scores): per facet the votes are normalised
    to shares, facets weigh by their total votes, and the mass is summed up the tree."""
    n = len(votes)
    flow = np.zeros((n, len(tree)), dtype=np.float32)
    total = np.zeros(n, dtype=np.float32)
    for cols in cmap.groups:
        share = np.clip(votes[:, cols], 0.0, None)
        flow += np.asarray((cmap.matrix[cols].T @ share.T).T)
        total += share.sum(axis=1)
    flow /= np.maximum(total, 1e-12)[:, None]
    return subtree_mass(flow, tree)

