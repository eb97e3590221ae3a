"""Training examples for the reranker: the catalog's own products left out of their own
neighbours, labelled by their tags and split into fit, calibrate and report by id hash."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger import artifacts
from retrieval_tagger.catalog import read_catalog
from retrieval_tagger.errors import RerankerError
from retrieval_tagger.rerank import model, training
from retrieval_tagger.rerank.training import concat, leave_one_out, split_of


@pytest.fixture(scope="module")
def index(both_index):
    from retrieval_tagger.index.reader import open_index

    return open_index(both_index)


@pytest.fixture(scope="module")
def texts(catalog_csv, facet_spec) -> dict[str, str]:
    products, _ = read_catalog(catalog_csv, facet_spec)
    return {p.id: p.text for p in products}


def test_products_split_by_a_hash_of_their_id_about_70_15_15():
    splits = np.asarray([split_of(f"product-{i}") for i in range(4000)])
    np.testing.assert_allclose(np.bincount(splits, minlength=3) / len(splits), [0.70, 0.15, 0.15], atol=0.03)
    assert {split_of("product-7") for _ in range(3)} == {split_of("product-7")}


def test_leave_one_out_labels_each_candidate_by_the_products_own_tags(index, texts):
    names = model.expected_features(index)

    examples = leave_one_out(index, texts, names, sample=None)

    assert examples.x.shape == (len(examples.y), len(names)) and len(examples.y) > 0
    assert examples.truth.shape == (len(index.ids), len(index.vocab))
    assert examples.split.tolist() == [split_of(pid) for pid in index.ids]
    truth = index.product_tags.toarray() > 0
    np.testing.assert_array_equal(examples.y, truth[examples.query, examples.col])
    assert examples.y.any() and not examples.y.all()
    parts = [examples.rows_of(split) for split in range(3)]
    assert sum(len(rows) for rows in parts) == len(examples.y)
    for split, rows in enumerate(parts):
        assert (examples.split[examples.query[rows]] == split).all()


def test_a_sample_takes_the_products_an_id_hash_chooses(index, texts):
    examples = leave_one_out(index, texts, model.expected_features(index), sample=12)
    chosen = [index.ids[i] for i in artifacts.hash_sample(index.ids, 12)]
    assert examples.split.tolist() == [split_of(pid) for pid in chosen]
    np.testing.assert_array_equal(examples.truth.toarray(), index.product_tags[[index.id_rows[pid] for pid in chosen]].toarray())


def test_too_few_tagged_products_are_refused(index, texts, monkeypatch):
    monkeypatch.setattr(training, "MIN_QUERIES", len(index.ids) + 1)
    with pytest.raises(RerankerError, match=f"has {len(index.ids)} tagged products; the reranker needs at least {len(index.ids) + 1}"):
        leave_one_out(index, texts, model.expected_features(index), sample=None)
    with pytest.raises(RerankerError, match="no tagged products to train the reranker on"):
        concat([], [], [])
