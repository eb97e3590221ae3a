"""The figures of a trained reranker on its held-out report queries: what training
records, voting against reranked, and MMR at lambda 1 as plain ranking."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from retrieval_tagger.catalog import read_catalog
from retrieval_tagger.rerank import model, report
from retrieval_tagger.rerank.training import leave_one_out


@pytest.fixture(scope="module")
def trained(reranked, catalog_csv, facet_spec):
    from retrieval_tagger.index.reader import open_index

    folder, info = reranked
    index = open_index(folder)
    reranker = model.load(index)
    products, _ = read_catalog(catalog_csv, facet_spec)
    examples = leave_one_out(index, {p.id: p.text for p in products}, reranker.features, sample=None)
    return examples, reranker, index, info


def test_the_report_is_what_training_recorded(trained):
    examples, reranker, index, info = trained
    out = report.held_out(examples, reranker, index.vocab)
    assert out == info["report"]
    assert out["queries"] == int((examples.split == 2).sum()) == info["queries"]["report"] > 0
    assert out["candidate_rows"] == len(examples.rows_of(2))


def test_voting_reranked_and_mmr_are_measured_on_the_same_queries(trained):
    examples, reranker, index, _ = trained
    out = report.held_out(examples, reranker, index.vocab)
    for metrics in (out["voting"], out["reranked"], *out["mmr"].values()):
        assert metrics["evaluated"] == out["queries"] and 0.0 <= metrics["facet_accuracy"] <= 1.0
    assert list(out["mmr"]) == [str(lam) for lam in report.LAMBDAS]
    assert out["mmr"]["1.0"] == out["reranked"]  # MMR at lambda 1 ranks by score alone
    assert all(0.0 <= value <= 1.0 for value in out["ece"].values())


def test_no_report_queries_no_report(trained):
    examples, reranker, index, _ = trained
    no_report = dataclasses.replace(examples, split=np.where(examples.split == 2, 0, examples.split))
    assert report.held_out(no_report, reranker, index.vocab) == {}
