"""The reranker's features on a hand-made case, and tag statistics of catalog queries
taken from the other half of the catalog."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import sparse

from retrieval_tagger.rerank import features
from retrieval_tagger.signals import registry
from retrieval_tagger.signals.compute import Signals
from retrieval_tagger.tags import TagSet

TAGS = ["colour:red", "colour:blue", "article:shirt", "article:hat", "cotton"]
RED, BLUE, SHIRT, HAT, COTTON = range(5)


def hand_index():
    """Four catalog products: red shirt cotton, red hat, blue shirt, blue hat cotton."""
    rows = [[RED, SHIRT, COTTON], [RED, HAT], [BLUE, SHIRT], [BLUE, HAT, COTTON]]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    tags = sparse.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate(rows), indptr), shape=(4, len(TAGS)))
    # a text store (never searched here): the index has the text, names and mentions signals
    return SimpleNamespace(vocab=TagSet(TAGS, [2, 2, 2, 2, 2]), product_tags=tags, modalities={"text": None}, vocab_vectors={})


def hand_batch(self_rows=None):
    index = hand_index()
    fused = np.asarray([[0.7, 0.3, 0.6, 0.4, 0.5]], dtype=np.float32)
    votes = np.asarray([[0.8, 0.2, 0.9, 0.1, 0.4]], dtype=np.float32)
    found = Signals(
        scores={"text": votes, "names": np.full((1, 5), 0.5, np.float32), "mentions": np.zeros((1, 5), np.float32)},
        present={name: np.ones(1, bool) for name in ("text", "names", "mentions")},
        extras={"text": {"sims": np.asarray([[0.9, 0.8, 0.5]], np.float32), "rows": np.asarray([[0, 2, 1]])},
                "names": {"text_sims": np.full((1, 5), 0.3, np.float32)}},
    )
    names = features.feature_names(index)
    assert names[: names.index("fused")] == [n for s in ("text", "names", "mentions") for n in registry.get(s).feature_names(index)]
    batch = features.build(found, fused, features.TagTable.from_index(index), index, names, self_rows)
    by_tag = {int(c): batch.x[0, p] for p, c in enumerate(batch.cand[0]) if batch.valid[0, p]}
    return {tag: dict(zip(names, by_tag[tag])) for tag in by_tag}, batch


def pmi(pair, a, b, n):
    return math.log(pair + 0.5) + math.log(n + 0.5) - math.log(a + 0.5) - math.log(b + 0.5)


def test_features_by_hand():
    f, batch = hand_batch()
    assert sorted(f) == list(range(5))
    assert batch.cand[0].tolist() == [RED, SHIRT, COTTON, HAT, BLUE]  # best fused first
    # neighbours 0 (0.9), 2 (0.8), 1 (0.5): red is on 0 and 1, blue on 2, hat on 1, cotton on 0
    assert [f[t]["text_voters"] for t in range(5)] == pytest.approx([2 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 3])
    assert [f[t]["text_best_sim"] for t in range(5)] == pytest.approx([0.9, 0.8, 0.9, 0.5, 0.9])
    assert all(f[t]["text_top_sim"] == pytest.approx(0.9) for t in range(5))
    assert [f[t]["text_rank"] for t in range(5)] == [0, 1, 0, 1, 0]
    assert [f[t]["fused_rank"] for t in range(5)] == [0, 1, 0, 1, 0]
    assert [f[t]["fused_margin"] for t in range(5)] == pytest.approx([0.4, -0.4, 0.2, -0.2, 0.5])
    assert f[RED]["log_prior"] == pytest.approx(math.log(2.5 / 4.5))
    assert f[RED]["facet"] == f[BLUE]["facet"] != f[SHIRT]["facet"]
    assert f[COTTON]["group_size"] == 1 and f[RED]["group_size"] == 2
    # red's context is the best article (shirt) and the free tag cotton: each together once
    assert f[RED]["pmi_mean"] == pytest.approx(pmi(1, 2, 2, 4), rel=1e-5)
    # hat's context is red (the best colour) and cotton; hat and red share product 1 only
    assert f[HAT]["pmi_min"] == pytest.approx(pmi(1, 2, 2, 4), rel=1e-5)
    assert f[BLUE]["name_sim"] == pytest.approx(0.3)


def test_catalog_queries_take_tag_statistics_from_the_other_half_of_the_catalog():
    f, _ = hand_batch(self_rows=np.asarray([0]))  # the query is catalog product 0 (even row)
    # the odd rows are products 1 (red hat) and 3 (blue hat cotton)
    assert f[RED]["log_prior"] == pytest.approx(math.log(1.5 / 2.5))
    assert f[SHIRT]["log_prior"] == pytest.approx(math.log(0.5 / 2.5))
    # red's context is shirt and cotton, which it never meets there
    assert f[RED]["pmi_mean"] == pytest.approx((pmi(0, 1, 0, 2) + pmi(0, 1, 1, 2)) / 2, rel=1e-5)
    outside, _ = hand_batch(self_rows=np.asarray([-1]))  # not in the catalog: all of it counts
    assert outside[RED]["log_prior"] == pytest.approx(math.log(2.5 / 4.5))
