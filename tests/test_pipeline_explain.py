"""``explain=True``: the same tags and scores, each with its why, whose shares add up to
the fused score and whose reranker change leads to the final score."""

from __future__ import annotations

import pytest

from retrieval_tagger.pipeline import Tagger


@pytest.mark.parametrize("which", ["fused", "reranked"])
def test_explained_tags_are_the_tags_and_add_up(which, both_tagger, reranked):
    tagger = both_tagger if which == "fused" else Tagger.load(reranked[0])
    products = [{"id": "a", "text": "red cotton shirt"}, {"id": "b", "text": "blue denim jeans"}, {"id": "e"}]
    plain = [r.to_dict() for r in tagger.tag(products, top_n=5)]
    explained = [r.to_dict() for r in tagger.tag(products, top_n=5, explain=True)]
    assert [[{k: v for k, v in t.items() if k != "why"} for t in r.get("tags", [])] for r in explained] == [r.get("tags", []) for r in plain]
    assert explained[2]["error"] == plain[2]["error"]
    whys = [t["why"] for r in explained for t in r.get("tags", [])]
    assert whys and all(abs(sum(w["signals"].values()) - w["fused"]) < 2e-3 for w in whys)
    for r in explained:
        for t in r.get("tags", []):
            assert abs(t["why"]["fused"] + t["why"]["rerank"] - t["score"]) < 2e-3 or t.get("review")
    assert any(w["neighbours"] for w in whys) and any(w["words"] for w in whys)
    if which == "reranked":
        assert any(w["rerank"] != 0 for w in whys)
