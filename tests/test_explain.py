"""Explanations: shares that add up to the fused score, the voting neighbours tagged with
the tag (strongest first), the text's words in the tag's name, the reranker's change."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy import sparse

from retrieval_tagger.explain import explain_batch
from retrieval_tagger.signals.compute import Signals
from retrieval_tagger.tags import TagSet


def small_index():
    vocab = TagSet(["colour:red", "colour:blue", "cotton"], [3, 2, 2])
    # products a, b, c: a red cotton, b blue, c red
    product_tags = sparse.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0]], np.float32))
    return SimpleNamespace(vocab=vocab, ids=["a", "b", "c"], product_tags=product_tags)


def batch():
    scores = {"text": np.array([[0.8, 0.2, 0.5], [0.1, 0.9, 0.0]], np.float32),
              "names": np.array([[0.6, 0.4, 0.3], [0.5, 0.5, 0.5]], np.float32)}
    present = {"text": np.array([True, True]), "names": np.array([True, False])}
    extras = {"text": {"sims": np.array([[0.9, 0.7, 0.5], [0.8, -np.inf, -np.inf]], np.float32),
                       "rows": np.array([[2, 1, 0], [1, -1, -1]])}}
    return Signals(scores, present, extras)


def test_shares_add_up_to_the_fused_score_and_neighbours_voted_for_the_tag():
    index, found = small_index(), batch()
    weights = {"text": np.array([0.6, 0.6, 0.6], np.float32), "names": np.array([0.4, 0.4, 0.0], np.float32)}
    fused = found.fused(weights)
    final = fused.copy()
    final[0, 0] += 0.05  # the reranker raised product 0's red
    picked = [[(0, 0.0), (2, 0.0)], [(1, 0.0)]]
    whys = explain_batch(index, found, weights, {"text": {"k": 3, "temperature": 0.1}, "names": {}}, fused, final,
                         ["Red cotton shirt", "a blue thing"], picked)
    red = whys[0][0]
    assert abs(sum(red["signals"].values()) - red["fused"]) < 1e-3 and red["fused"] == round(float(fused[0, 0]), 4)
    assert red["rerank"] == 0.05 and red["words"] == ["red"]
    assert [n["id"] for n in red["neighbours"]] == ["c", "a"]  # b is blue: it did not vote for red
    assert red["neighbours"][0]["weight"] > red["neighbours"][1]["weight"] and red["neighbours"][0]["similarity"] == 0.9
    cotton = whys[0][2]
    assert set(cotton["signals"]) == {"text"}  # names has no weight on cotton
    assert [n["id"] for n in cotton["neighbours"]] == ["a"] and cotton["words"] == ["cotton"]
    unweighted = explain_batch(index, found, {"text": np.array([0.0, 0.6, 0.6], np.float32), "names": weights["names"]},
                               {"text": {"k": 3, "temperature": 0.1}, "names": {}}, fused, final, ["Red cotton shirt", "x"], [[(0, 0.0)], []])
    assert unweighted[0][0]["neighbours"] == [] and set(unweighted[0][0]["signals"]) == {"names"}  # text has no say on red there
    blue = whys[1][1]
    assert set(blue["signals"]) == {"text"} and blue["signals"]["text"] == blue["fused"]  # names absent for product 1
    assert [n["id"] for n in blue["neighbours"]] == ["b"] and blue["rerank"] == 0.0
