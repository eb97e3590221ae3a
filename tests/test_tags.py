"""tags.py: the catalog's tag table (facets, free tags, frequency order) and its groups."""

from __future__ import annotations

from retrieval_tagger.tags import TagSet, path_nodes, path_tags, split_facet, tag_groups

VOCAB = TagSet(
    ["colour:red", "colour:blue", "article:shirt", "cotton", "summer", "article:jeans"],
    [5, 4, 3, 2, 1, 1],
)


def test_vocab_groups_facets_and_free_tags():
    assert {f: list(c) for f, c in VOCAB.facets.items()} == {"colour": [0, 1], "article": [2, 5]}
    assert list(VOCAB.free) == [3, 4]
    assert split_facet("gender:Men") == ("gender", "Men")
    assert split_facet("size: 10:30") == ("size", " 10:30")
    assert split_facet("Ratio 3:2") == (None, "Ratio 3:2")  # a space before ':' -> free tag
    assert split_facet(":x") == (None, ":x")


def test_vocab_from_tag_lists_orders_by_frequency_then_name():
    vocab = TagSet.from_tag_lists([["b", "a"], ["a", "c"], ["c", "z"]])
    assert vocab.tags == ["a", "c", "b", "z"]
    assert vocab.counts == [2, 2, 1, 1]
    indptr, indices = vocab.encode_lists([["z", "unknown", "a"], []])
    assert list(indptr) == [0, 2, 2]
    assert list(indices) == [3, 0]
    assert TagSet.from_json(vocab.to_json()).tags == vocab.tags


GROUPED = TagSet(
    ["colour:red", "colour:blue", "article:shirt", "cotton", "article:jeans", "colour:green", "summer"],
    [7, 6, 5, 4, 3, 2, 1],
)  # colour: 0, 1, 5; article: 2, 4; free: 3, 6


def test_tag_groups_are_the_facets_then_the_free_tags():
    groups = [g.tolist() for g in tag_groups(GROUPED)]
    assert groups == [[0, 1, 5], [2, 4], [3, 6]]
    assert [g.tolist() for g in tag_groups(TagSet(["colour:red", "colour:blue"], [1, 1]))] == [[0, 1]]


def test_path_nodes_strip_what_the_user_describes():
    import re

    assert path_nodes("Home >> Curtains >> Fabhome Sherpa Blanket", " >> ", drop_last=True) == ["Home", "Curtains"]
    assert path_nodes("All Products > Toys > > Puzzles", drop=re.compile("All Products")) == ["Toys", "Puzzles"]
    assert path_nodes("A > B > C > D", depth=2) == ["A", "B"]
    assert path_tags("cat", []) == []
