"""Taxonomy trees: depths, leaves, paths, and the best path by its mean score."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.vocab.taxonomy import Tree, best_paths


def test_tree_paths_choose_the_best_leaf_by_path_mean():
    tree = Tree([-1, 0, 0, 1, -1])  # 0 > 1 > 3, 0 > 2, 4
    z = np.array([[1.0, 0.0, 2.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0, 3.0]])
    ends, means = best_paths(z, tree)
    assert ends.tolist() == [3, 4] and means[0, 3] == pytest.approx(2.0)
    assert tree.leaves().tolist() == [2, 3, 4] and tree.depth.tolist() == [0, 1, 1, 2, 0]
    assert tree.path(3) == [0, 1, 3]
    with pytest.raises(ValueError, match="before its parent"):
        Tree([1, -1])
