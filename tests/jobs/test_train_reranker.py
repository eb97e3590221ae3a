"""``train_index``: a reranker trained by leave-one-out and saved with its record,
examples from a labelled file equal to the catalog's own, and bad requests refused before
any training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval_tagger.catalog import read_catalog
from retrieval_tagger.errors import RerankerError
from retrieval_tagger.jobs.train_reranker import from_tagger, train_index
from retrieval_tagger.rerank import model
from retrieval_tagger.rerank.training import MIN_QUERIES, leave_one_out


def test_training_saves_the_reranker_with_its_record(reranked):
    from retrieval_tagger.index.reader import open_index

    folder, info = reranked
    assert info["source"] == "leave-one-out on the catalog"
    assert info["features"] == model.expected_features(open_index(folder))
    assert Path(info["folder"]) == folder / "reranker"
    assert sum(info["queries"].values()) == 30 and info["rounds"] >= 1
    saved = json.loads((folder / "reranker" / "manifest.json").read_text())
    assert saved["training"]["source"] == info["source"] and saved["features"] == info["features"]
    assert saved["training"]["report"]["queries"] == info["report"]["queries"]


def test_labelled_products_give_the_examples_the_catalog_gives(both_index, catalog_csv, facet_spec):
    """The catalog read as a labelled file, encoded by a Tagger and left out of its own
    neighbours, gives the examples leave-one-out gives from the stored vectors."""
    from retrieval_tagger.pipeline import Tagger

    tagger = Tagger.load(both_index, rerank=False)
    products, _ = read_catalog(catalog_csv, facet_spec, purpose="query")
    names = model.expected_features(tagger.index)
    counted = []

    labelled = from_tagger(tagger, products, names, counted.append)
    own = leave_one_out(tagger.index, {p.id: p.text for p in products}, names, sample=None)

    assert sum(counted) == len(products)
    for field in ("y", "query", "col", "split"):
        np.testing.assert_array_equal(getattr(labelled, field), getattr(own, field), err_msg=field)
    np.testing.assert_allclose(labelled.x, own.x, atol=1e-4)
    assert (labelled.truth != own.truth).nnz == 0


def test_bad_requests_are_refused_before_training(both_index, catalog_csv, tmp_path):
    with pytest.raises(RerankerError, match=f"--sample must be at least {MIN_QUERIES}"):
        train_index(both_index, sample=MIN_QUERIES - 1)
    with pytest.raises(RerankerError, match="is not there: pass --catalog with its current path"):
        train_index(both_index, catalog=tmp_path / "moved.csv")
    edited = tmp_path / "edited.csv"
    edited.write_text(catalog_csv.read_text(encoding="utf-8").replace("red", "rot"), encoding="utf-8")
    with pytest.raises(RerankerError, match="is not the catalog that built index .* sha256 differs"):
        train_index(both_index, catalog=edited)
    assert not (both_index / "reranker").exists()
