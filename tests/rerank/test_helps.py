"""Where the reranker helps: per facet (and free tags), held-out accuracy of fused against
reranked scores decides; ties rerank; the reranked scores get their own precision tables."""

from __future__ import annotations

import numpy as np

from retrieval_tagger import precision
from retrieval_tagger.rerank import helps
from retrieval_tagger.tags import TagSet

VOCAB = TagSet(["a:x", "a:y", "b:p", "b:q", "red", "blue"], [1] * 6)


def test_each_facet_reranks_only_where_it_did_not_lose():
    truth = np.array([[1, 0, 1, 0, 1, 0],
                      [0, 1, 0, 1, 0, 1]], dtype=bool)
    fused = np.array([[0.6, 0.4, 0.6, 0.4, 0.3, 0.1],    # a: right, b: right, free: right
                      [0.6, 0.4, 0.4, 0.6, 0.3, 0.1]])   # a: wrong, b: right, free: wrong
    reranked = np.array([[0.9, 0.1, 0.2, 0.8, 0.3, 0.1],  # a: right, b: wrong, free: right
                         [0.1, 0.9, 0.4, 0.6, 0.1, 0.3]])  # a: right, b: right, free: right
    out = helps.where_it_helps(fused, reranked, truth, VOCAB)
    assert out["a"] == {"fused": 0.5, "reranked": 1.0, "judged": 2, "use": True}
    assert out["b"] == {"fused": 1.0, "reranked": 0.5, "judged": 2, "use": False}
    assert out[precision.FREE]["use"] and out[precision.FREE]["reranked"] == 1.0
    same = helps.where_it_helps(fused, fused, truth, VOCAB)
    assert all(row["use"] for row in same.values())  # a tie reranks: its scores are probabilities


def test_a_best_score_of_zero_is_no_prediction():
    truth = np.array([[1, 0, 0, 0, 0, 0]], dtype=bool)
    acc = helps.accuracy(np.zeros((1, 6)), truth, VOCAB)
    assert acc["a"] == (0.0, 1) and "b" in acc


def test_held_out_scores_of_a_trained_reranker(reranked):
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.rerank import model

    folder, info = reranked
    index = open_index(folder)
    assert set(info["helps"]) == {*index.vocab.facets, precision.FREE}
    assert info["precision"]["scores"] == "reranked"
    assert info["precision"]["products"] == info["report"]["queries"]
    tables = precision.tables_from_json(info["precision"])
    assert set(tables) <= set(info["helps"]) and all(c.count > 0 for c in tables.values())
    loaded = model.load(index)
    assert loaded.groups_used() == {name: row["use"] for name, row in info["helps"].items()}
    assert set(loaded.precision_tables()) == set(tables)
