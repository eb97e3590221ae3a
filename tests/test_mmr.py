"""MMR: plain ranking at lambda 1, the least similar tags at 0, facets kept exclusive, and the
tag-tag similarity it reads."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from retrieval_tagger import mmr
from retrieval_tagger.cooccurrence import Cooccurrence
from retrieval_tagger.signals.fuse import select
from retrieval_tagger.tags import TagSet


def test_mmr_at_lambda_one_is_plain_ranking():
    rng = np.random.default_rng(1)
    vocab = TagSet(["a:1", "a:2", "a:3", "b:1", "b:2", "c:1", "x", "y", "z", "w"], [1] * 10)
    scores = rng.random((50, 10)).astype(np.float32)
    scores[rng.random((50, 10)) < 0.2] = 0
    sim = rng.random((10, 10)).astype(np.float32)
    for exclusive in (True, False):
        for top_n, min_score in ((3, 0.0), (10, 0.3)):
            assert mmr.select(scores, vocab, sim, 1.0, top_n, min_score, exclusive) == select(scores, vocab, top_n, min_score, exclusive)


def test_mmr_at_lambda_zero_picks_the_least_similar():
    vocab = TagSet(["p", "q", "r", "s"], [1] * 4)
    scores = np.asarray([[0.9, 0.8, 0.7, 0.1]], dtype=np.float32)
    sim = np.asarray([[1, 0.9, 0.2, 0.5], [0.9, 1, 0.1, 0.5], [0.2, 0.1, 1, 0.6], [0.5, 0.5, 0.6, 1]], dtype=np.float32)
    (picked,) = mmr.select(scores, vocab, sim, 0.0, top_n=3)
    # the likeliest first, then the tag least like p (r), then the one least like both (q: max(0.9, 0.1) vs s: 0.6)
    assert [c for c, _ in picked] == [0, 2, 3]
    assert picked[1][1] == pytest.approx(0.7)  # scores stay the tags' own
    (middle,) = mmr.select(scores, vocab, sim, 0.5, top_n=2)
    assert [c for c, _ in middle] == [0, 2]  # 0.5*0.8-0.5*0.9 < 0.5*0.7-0.5*0.2


def test_mmr_keeps_facets_exclusive_and_never_swaps_a_facet_value():
    vocab = TagSet(["a:1", "a:2", "b:1", "b:2"], [1] * 4)
    scores = np.asarray([[0.9, 0.8, 0.5, 0.4]], dtype=np.float32)
    sim = np.asarray([[1, 0, 0.9, 0], [0, 1, 0, 0], [0.9, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
    (picked,) = mmr.select(scores, vocab, sim, 0.0, top_n=3)
    assert [c for c, _ in picked] == [0, 2]  # b:2 is unlike a:1, but b:1 is b's likelier value


def test_tag_similarity_blends_names_and_cooccurrence():
    red, blue, shirt = 0, 1, 2  # tags: red, blue, shirt, hat, cotton
    # four products: red shirt cotton, red hat, blue shirt, blue hat cotton
    product_tags = sparse.csr_matrix(np.array([[1, 0, 1, 0, 1], [1, 0, 0, 1, 0], [0, 1, 1, 0, 0], [0, 1, 0, 1, 1]], np.float32))
    vectors = np.eye(5, dtype=np.float32)
    sim = mmr.tag_similarity(vectors, Cooccurrence.from_product_tags(product_tags))
    assert np.allclose(np.diag(sim), 1) and np.allclose(sim, sim.T) and sim.min() >= 0
    assert sim[red, shirt] > sim[red, blue]  # red and shirt occur together; red and blue never
