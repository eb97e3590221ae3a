"""The catalog's facet tags mapped onto a taxonomy: each tag to the nodes it resembles,
corrections that override it, and neighbours' votes flowing through it as subtree mass."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from toy_catalog import VOCAB_QUERIES

from retrieval_tagger.vocab import catalog_map
from retrieval_tagger.vocab.taxonomy import Tree


def test_catalog_tags_map_to_the_nodes_they_resemble(vocab_tagger):
    run = vocab_tagger.vocab_run("tax")
    tags, entries = vocab_tagger.index.vocab.tags, run.stored.entries
    top = {tag: entries[run.mapping.top(col, 1)[0][0]].tag for col, tag in enumerate(tags) if tag.startswith("article:")}
    assert top["article:shirt"] == "Clothing > Tops > shirt" and top["article:jeans"] == "Clothing > Bottoms > jeans"
    rows = np.asarray(run.mapping.matrix.sum(axis=1)).ravel()
    facet_cols = np.concatenate(list(vocab_tagger.index.vocab.facets.values()))
    np.testing.assert_allclose(rows[facet_cols], 1.0, rtol=1e-5)  # a distribution per facet tag


def test_corrections_override_the_computed_mapping(vocab_tagger):
    run = vocab_tagger.vocab_run("tax")
    hat = [e.tag for e in run.stored.entries].index("Accessories > hat")
    fixed = catalog_map.align(vocab_tagger.index, run.stored.vectors["text"], run.stored.stats["text"], run.tree,
                              vocab_tagger.catalog_titles(), {"article:shirt": hat})
    col = vocab_tagger.index.vocab.index["article:shirt"]
    assert fixed.top(col, 2) == [(hat, 1.0)] and fixed.corrected[col] and fixed.corrected.sum() == 1


def test_votes_flow_through_the_mapping_as_subtree_mass():
    tree = Tree([-1, 0, 0, -1])  # 0 > 1, 0 > 2, 3
    # two facets: a (cols 0, 1) and b (col 2); col 0 -> node 1, col 1 -> half 2 / half 3, col 2 -> node 2
    matrix = sparse.csr_matrix(np.asarray([[0, 1, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 1, 0]], dtype=np.float32))
    cmap = catalog_map.CatalogMap(matrix, [np.asarray([0, 1]), np.asarray([2])], np.zeros(3, bool))
    mass = catalog_map.node_mass(np.asarray([[0.6, 0.2, 0.2], [0.0, 0.0, 0.0]], np.float32), cmap, tree)
    # facet a carries 0.8 of the votes, b 0.2: node 1 0.6, node 2 0.1 + 0.2, node 3 0.1, out of 1.0
    np.testing.assert_allclose(mass[0], [0.9, 0.6, 0.3, 0.1], rtol=1e-5)
    np.testing.assert_allclose(mass[1], 0.0)  # no votes, no mass


def test_mapped_taxonomy_tags_whole_paths_with_calibrated_masses(vocab_tagger):
    results = vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", min_score=0.0)
    for result in results:
        tags = [t["tag"] for t in result.tags]
        assert all(b.startswith(a + " > ") for a, b in zip(tags, tags[1:]))  # one path from a root
        scores = [t["score"] for t in result.tags]
        assert scores == sorted(scores, reverse=True) and scores[0] <= 1.0
