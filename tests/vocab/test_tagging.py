"""Tagging with a stored vocabulary: facets kept exclusive, taxonomy predictions as whole
paths, and the knn, auto and zeroshot modes."""

from __future__ import annotations

import numpy as np
import pytest
from toy_catalog import VOCAB_QUERIES

from retrieval_tagger.errors import RtagError
from retrieval_tagger.vocab.stored import (
    load_vocab,
)


def test_zero_shot_tagging_with_a_facet_vocabulary(vocab_tagger):
    results = vocab_tagger.tag(VOCAB_QUERIES, vocab="facets", mode="zeroshot", min_score=0.0)
    tags = [{t["tag"] for t in r.tags} for r in results]
    assert {"colour:red", "article:shirt"} <= tags[0] and {"colour:blue", "article:jeans"} <= tags[1]
    assert all(sum(t.startswith("colour:") for t in ts) == 1 for ts in tags)  # facets stay exclusive


def test_taxonomy_predictions_are_whole_paths(vocab_tagger):
    results = vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", min_score=0.0)
    paths = [e.tag for e in load_vocab(vocab_tagger.index, "tax").entries]
    predicted = [[t["tag"] for t in r.tags] for r in results]
    assert predicted[0][-1] == "Clothing > Tops > shirt" and predicted[1][-1] == "Clothing > Bottoms > jeans"
    assert predicted[2][-1] == "Accessories > bag"
    for tags in predicted:  # every node comes with all its ancestors
        for tag in tags:
            parts = tag.split(" > ")
            assert all(" > ".join(parts[:cut]) in tags for cut in range(1, len(parts))), tags
    assert all(t in paths for tags in predicted for t in tags)
    for r in results:  # scores never rise with depth
        scores = [t["score"] for t in r.tags]
        assert scores == sorted(scores, reverse=True)
    shallow = vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", depth=1, min_score=0.0)
    assert [[t["tag"] for t in r.tags] for r in shallow] == [["Clothing"], ["Clothing"], ["Accessories"]]


def test_modes_knn_auto_zeroshot(vocab_tagger):
    knn, *_ = vocab_tagger.score_vocab(VOCAB_QUERIES, vocab="facets", mode="knn")
    own, *_ = vocab_tagger.score(VOCAB_QUERIES)
    tags = load_vocab(vocab_tagger.index, "facets").tags
    for j, tag in enumerate(tags):  # knn mode: the index's own scores of the vocabulary's tags
        col = vocab_tagger.index.vocab.index.get(tag)
        np.testing.assert_allclose(knn[:, j], own[:, col] if col is not None else 0.0, atol=1e-6)
    scarf = load_vocab(vocab_tagger.index, "facets").tags.index("article:scarf")
    scores, *_ = vocab_tagger.score_vocab(VOCAB_QUERIES, vocab="facets", mode="auto")
    zs, *_ = vocab_tagger.score_vocab(VOCAB_QUERIES, vocab="facets", mode="zeroshot")
    # no examples: names only, as a share of the article facet (the scale of vote shares)
    from retrieval_tagger.vocab.tagging import _score_to_z

    article = [j for j, t in enumerate(load_vocab(vocab_tagger.index, "facets").tags) if t.startswith("article:")]
    z = _score_to_z(zs[:, article])
    share = np.exp(z - z.max(axis=1, keepdims=True))
    share /= share.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scores[:, scarf], share[:, article.index(scarf)], rtol=1e-3, atol=1e-5)
    # a taxonomy the catalog shares no tags with is reached through its facets; without
    # that mapping knn mode has nothing to vote with
    assert all(r.tags for r in vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", mode="knn"))
    vocab_tagger.vocab_run("tax").mapping = None
    with pytest.raises(RtagError, match="shares none"):
        vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", mode="knn")
    with pytest.raises(RtagError, match="mode must be"):
        vocab_tagger.tag(VOCAB_QUERIES, vocab="facets", mode="magic")
