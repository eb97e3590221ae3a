"""Taxonomy trees: depths, leaves, paths, and the best path by its mean score."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.vocab.taxonomy import (
    Tree,
    best_paths,
    greedy_paths,
    path_softmax,
    subtree_mass,
)


def test_tree_paths_choose_the_best_leaf_by_path_mean():
    tree = Tree([-1, 0, 0, 1, -1])  # 0 > 1 > 3, 0 > 2, 4
    z = np.array([[1.0, 0.0, 2.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0, 3.0]])
    ends, means = best_paths(z, tree)
    assert ends.tolist() == [3, 4] and means[0, 3] == pytest.approx(2.0)
    assert tree.leaves().tolist() == [2, 3, 4] and tree.depth.tolist() == [0, 1, 1, 2, 0]
    assert tree.path(3) == [0, 1, 3]
    with pytest.raises(ValueError, match="before its parent"):
        Tree([1, -1])


def test_subtree_mass_sums_a_distribution_up_the_tree():
    tree = Tree([-1, 0, 0, 1, -1])  # 0 > 1 > 3, 0 > 2, 4
    mass = subtree_mass(np.asarray([[0.1, 0.2, 0.1, 0.4, 0.2]]), tree)
    np.testing.assert_allclose(mass, [[0.8, 0.6, 0.1, 0.4, 0.2]], rtol=1e-6)


def test_path_softmax_is_a_distribution_that_prefers_good_paths():
    tree = Tree([-1, 0, 0, 1, -1])
    weights = path_softmax(np.asarray([[2.0, 1.0, -3.0, 1.0, 0.0]]), tree, 0.5)
    assert weights.sum() == pytest.approx(1.0) and weights[0, 3] > weights[0, 2]


def test_greedy_paths_descend_into_the_likeliest_child_and_stay_consistent():
    tree = Tree([-1, 0, 0, 1, -1])
    mass = np.asarray([[0.7, 0.2, 0.5, 0.2, 0.3],   # root 0, then child 2 (a leaf)
                       [0.3, 0.3, 0.0, 0.3, 0.7],   # root 4 (a leaf): deeper nodes elsewhere are not reached
                       [0.9, 0.8, 0.1, 0.0, 0.1]])  # 0 > 1 > 3 even where the leaf's mass is 0
    assert greedy_paths(mass, tree) == [[0, 2], [4], [0, 1, 3]]
    for path in greedy_paths(np.random.default_rng(0).random((20, 5)), tree):
        assert path[0] in (0, 4) and all(tree.parents[b] == a for a, b in zip(path, path[1:]))
