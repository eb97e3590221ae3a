"""Tag trees: learning them from a catalog's tags, and decoding scores into one consistent
path per group, never rising with depth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from toy_catalog import TEXT_SPEC, write_catalog

from retrieval_tagger import hierarchy
from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.index.reader import open_index
from retrieval_tagger.pipeline import Tagger
from retrieval_tagger.tags import TagSet, path_tags


def tagged(tag_lists: list[list[str]]) -> tuple[TagSet, sparse.csr_matrix]:
    vocab = TagSet.from_tag_lists(tag_lists)
    indptr, indices = vocab.encode_lists(tag_lists)
    return vocab, sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(tag_lists), len(vocab)))


# a catalog of clothes: kind (2 values) > type (3) > article (5), a colour unrelated to them
TREE = {("Apparel", "Topwear", "Shirts"), ("Apparel", "Topwear", "Tshirts"), ("Apparel", "Bottomwear", "Jeans"),
        ("Footwear", "Shoes", "Sneakers"), ("Footwear", "Shoes", "Boots")}
COLOURS = ["Red", "Blue", "Black"]


def clothes(noise: int = 0) -> tuple[TagSet, sparse.csr_matrix]:
    rows = []
    for i in range(300):
        kind, kind_type, article = sorted(TREE)[i % len(TREE)]
        rows.append([f"kind:{kind}", f"type:{kind_type}", f"article:{article}", f"colour:{COLOURS[i % 3]}"])
    for i in range(noise):  # a mislabelled row: jeans under footwear
        rows[i][:3] = ["kind:Footwear", "type:Bottomwear", "article:Jeans"]
    return tagged(rows)


def col(vocab: TagSet, tag: str) -> int:
    return vocab.index[tag]


def test_nested_facets_are_learned_as_one_chain_despite_a_noisy_row():
    vocab, product_tags = clothes(noise=1)
    tree = hierarchy.learn(vocab, product_tags)
    (group,) = tree.groups
    assert group["kind"] == "nested" and group["facets"] == ["kind", "type", "article"]  # colour lies under nothing
    assert min(group["agreement"]) < 1.0
    paths = {tuple(vocab.tags[c] for c in tree.path(p)) for p in range(len(tree))}
    assert ("kind:Apparel", "type:Bottomwear", "article:Jeans") in paths  # the majority parent, not the noisy one
    assert ("kind:Footwear", "type:Bottomwear", "article:Jeans") not in paths
    assert len(paths) == 2 + 3 + 5  # one per value: the value and its ancestors


def test_facets_nested_only_loosely_are_left_independent():
    vocab, product_tags = clothes(noise=30)  # 10% of rows break the nesting
    tree = hierarchy.learn(vocab, product_tags)
    assert tree is None or all(not {"type", "kind"} <= set(g["facets"]) for g in tree.groups)
    assert hierarchy.learn(*clothes(), nested=False) is None


def test_independent_argmaxes_are_inconsistent_but_the_joint_path_is_not():
    vocab, product_tags = clothes()
    tree = hierarchy.learn(vocab, product_tags)
    scores = np.zeros((1, len(vocab)), np.float32)
    for tag, score in {"kind:Apparel": 0.55, "kind:Footwear": 0.45, "type:Shoes": 0.5, "type:Topwear": 0.3,
                       "article:Shirts": 0.4, "article:Sneakers": 0.35, "colour:Red": 0.9}.items():
        scores[0, col(vocab, tag)] = score
    assert not hierarchy.consistent(tree, scores, vocab)[0]  # Apparel, Shoes, Shirts
    joint = hierarchy.decode(scores, tree)
    assert hierarchy.consistent(tree, joint, vocab)[0]
    # Footwear > Shoes > Sneakers sums 1.30, Apparel > Topwear > Shirts 1.25
    kept = {vocab.tags[c]: round(float(joint[0, c]), 4) for c in np.flatnonzero(joint[0])}
    assert kept == {"kind:Footwear": 0.5, "type:Shoes": 0.5, "article:Sneakers": 0.35, "colour:Red": 0.9}
    assert scores[0, col(vocab, "kind:Apparel")] == pytest.approx(0.55)  # the input is left alone


def random_paths(rng: np.random.Generator) -> list[list[str]]:
    """Products with category paths of 1-4 levels drawn from a random tree whose node
    names repeat under different parents."""
    rows = []
    for _ in range(200):
        depth = int(rng.integers(1, 5))
        nodes = [f"n{int(rng.integers(0, 3))}" for _ in range(depth)]
        rows.append(path_tags("cat", nodes) + [f"colour:{COLOURS[int(rng.integers(0, 3))]}"])
    return rows


@pytest.mark.parametrize("seed", range(20))
def test_joint_decoding_never_returns_an_inconsistent_path_and_never_rises_with_depth(seed):
    rng = np.random.default_rng(seed)
    vocab, product_tags = tagged(random_paths(rng))
    tree = hierarchy.learn(vocab, product_tags, ["cat"], nested=False)
    assert [g["kind"] for g in tree.groups] == ["path"]
    scores = rng.random((64, len(vocab))).astype(np.float32) ** 3
    scores[rng.random(scores.shape) < 0.3] = 0.0
    joint = hierarchy.decode(scores, tree)
    assert hierarchy.consistent(tree, joint, vocab).all()
    assert not hierarchy.consistent(tree, scores, vocab).all()  # the property is not a vacuous one
    *levels, full = hierarchy.path_facets("cat", vocab)
    best = np.stack([joint[:, vocab.facets[f]].max(axis=1) for f in levels], axis=1)
    assert (np.diff(best, axis=1) <= 1e-6).all()  # a path that stops leaves zeros below
    deepest = np.where(best > 0, best, np.inf).min(axis=1)
    assert (joint[:, vocab.facets[full]].max(axis=1) <= deepest + 1e-6).all()  # the full path comes last
    free = vocab.facets["colour"]
    np.testing.assert_array_equal(joint[:, free], scores[:, free])
    # the chosen path is the best-scoring one: no stored path sums higher
    padded, incidence, _ = tree.arrays(0, len(vocab))
    sums = np.asarray(incidence @ scores.T).T
    chosen = np.asarray(incidence @ (joint > 0).T.astype(np.float32)).T == (joint[:, np.unique(padded[padded >= 0])] > 0).sum(axis=1)[:, None]
    assert np.allclose(np.where(chosen, sums, -1).max(axis=1), sums.max(axis=1))


def test_a_path_column_keeps_names_that_repeat_under_different_parents():
    rows = [path_tags("cat", ["Toys", "Accessories"]), path_tags("cat", ["Fancy Dress", "Accessories", "Masks"]),
            path_tags("cat", ["Toys", "Puzzles"])]
    vocab, product_tags = tagged(rows)
    tree = hierarchy.learn(vocab, product_tags, ["cat"])
    (group,) = tree.groups
    assert group == {"kind": "path", "column": "cat", "facets": ["cat1", "cat2", "cat3", "cat"], "nodes": 6, "paths": 3, "depth": 3}
    scores = np.zeros((1, len(vocab)), np.float32)
    scores[0, [col(vocab, "cat1:Toys"), col(vocab, "cat2:Accessories"), col(vocab, "cat3:Masks")]] = [0.6, 0.5, 0.4]
    joint = hierarchy.decode(scores, tree)
    kept = [vocab.tags[c] for c in np.flatnonzero(joint[0])]
    assert sorted(kept) == ["cat1:Toys", "cat2:Accessories"]  # Masks lies under Fancy Dress > Accessories only


def test_stored_arrays_are_checked():
    tree = hierarchy.learn(*clothes())
    with pytest.raises(ValueError, match="outside the vocabulary"):
        hierarchy.Hierarchy.from_arrays(tree.indptr, tree.indices + 100, tree.group_of, tree.groups, 12)
    with pytest.raises(ValueError, match="offsets"):
        hierarchy.Hierarchy.from_arrays(tree.indptr[:-1], tree.indices, tree.group_of, tree.groups, 12)
    assert hierarchy.decode(np.ones((2, 3), np.float32), None).shape == (2, 3)


def test_an_index_with_a_category_column_tags_one_consistent_path(tmp_path, encoders):
    rows = []
    for i, (kind, article) in enumerate([("Clothing", "Shirts"), ("Clothing", "Jeans"), ("Shoes", "Boots"), ("Shoes", "Sneakers")] * 15):
        rows.append({"id": f"p{i:02d}", "title": f"{article.lower()} number {i % 5}", "category": f"Shop > {kind} > {article}"})
    catalog = write_catalog(tmp_path / "catalog.csv", rows)
    man = build_index(catalog, tmp_path / "idx", CatalogSpec(text_cols=["title"], category_col="category", category_drop="Shop"),
                      BuildOptions(image_model="none"), encoders=(encoders[0], None))
    assert man["hierarchy"]["groups"][0] == {"kind": "path", "column": "category", "facets": ["category1", "category2", "category"],
                                             "nodes": 6, "paths": 4, "depth": 2}
    assert open_index(tmp_path / "idx").hierarchy is not None
    tagger = Tagger.load(tmp_path / "idx")
    assert tagger.text_encoder.spec == TEXT_SPEC
    (result,) = tagger.tag([{"id": "q", "text": "boots number 3"}], min_score=0.0)
    tags = {t["tag"]: t["score"] for t in result.tags}
    assert {"category1:Shoes", "category2:Boots", "category:Shoes > Boots"} <= set(tags)
    assert tags["category1:Shoes"] >= tags["category2:Boots"] >= tags["category:Shoes > Boots"]



def test_an_index_without_a_tree_opens_with_none(text_index):
    opened = open_index(text_index)
    assert opened.hierarchy is None and "hierarchy" not in opened.manifest  # colour and article nest in nothing
    scores = np.random.default_rng(0).random((3, len(opened.vocab))).astype(np.float32)
    assert hierarchy.decode(scores, opened.hierarchy) is scores
