"""`--no-rerank` leaves the index's reranker unread in `rtag tag` and `rtag eval`, so a
reranker that cannot be read stops nothing that does not use it."""

from __future__ import annotations

import pytest
from cli_runner import ok, rtag

from retrieval_tagger.rerank import model as rerank_model


@pytest.fixture()
def unreadable_reranker(monkeypatch):
    def refuse(index):
        raise AssertionError("the reranker was read")

    monkeypatch.setattr(rerank_model, "load", refuse)


def test_tag_with_no_rerank_does_not_read_the_reranker(reranked, unreadable_reranker):
    index, _ = reranked
    result = ok("tag", "--index", index, "--text", "red cotton shirt", "--no-rerank")
    assert '"tags"' in result.stdout
    # the same command with the reranker does read it
    assert isinstance(rtag("tag", "--index", index, "--text", "red cotton shirt").exception, AssertionError)


def test_eval_with_no_rerank_does_not_read_the_reranker(reranked, catalog_csv, unreadable_reranker):
    index, _ = reranked
    result = ok("eval", catalog_csv, "--index", index, "--no-rerank", "--json")
    assert '"facet_accuracy"' in result.stdout
