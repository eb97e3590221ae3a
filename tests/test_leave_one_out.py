"""The catalog tagged as its own queries: `rtag index` records score -> precision tables
for every facet and the free tags, and they are the tables of what tagging the catalog
file with each product left out of its own neighbours gives."""

from __future__ import annotations

import json

import numpy as np

from retrieval_tagger import leave_one_out, precision
from retrieval_tagger.catalog import read_catalog
from retrieval_tagger.signals.registry import fusion_of


def test_the_index_records_tables_for_every_facet_and_the_free_tags(text_index):
    recorded = json.loads((text_index / "manifest.json").read_text())["precision"]
    assert recorded["scores"] == "fused" and recorded["products"] == 30
    assert set(recorded["groups"]) == {"colour", "article", precision.FREE}
    assert recorded["groups"]["colour"]["count"] == 30  # every product has a colour
    assert json.loads((text_index / "manifest.json").read_text())["build"]["timings"]["precision_s"] >= 0


def test_tables_are_those_of_tagging_the_catalog_with_each_product_left_out(text_index, catalog_csv, facet_spec):
    from retrieval_tagger.pipeline import Tagger

    tagger = Tagger.load(text_index)
    products, _ = read_catalog(catalog_csv, facet_spec, purpose="query", known_tags=tagger.index.vocab.tags)
    scores, _, items, _ = tagger.score(products, exclude_self=True, rerank=False)
    indptr, indices = tagger.index.vocab.encode_lists([p.tags for p in items])
    truth = np.zeros(scores.shape, bool)
    for row in range(len(items)):
        truth[row, indices[indptr[row]:indptr[row + 1]]] = True
    tagged = precision.group_curves(scores, truth, tagger.index.vocab)
    recorded = tagger.fused_curves
    assert set(recorded) == set(tagged)
    for name in tagged:
        np.testing.assert_allclose(recorded[name].precision, tagged[name].precision, atol=1e-6)
        np.testing.assert_allclose(recorded[name].score, tagged[name].score, atol=1e-4)


def test_a_sample_is_chosen_by_id_hash(text_index):
    from retrieval_tagger.index.reader import open_index

    index = open_index(text_index)
    rows = leave_one_out.tagged_rows(index)
    assert len(rows) == 30
    some = leave_one_out.sample_rows(index.ids, rows, 10)
    assert len(some) == 10 and np.array_equal(some, leave_one_out.sample_rows(index.ids, rows, 10))
    tables = leave_one_out.fused_tables(index, index.ids, [""] * 30, fusion_of(index.manifest), size=10)
    assert tables["products"] == 10 and tables["groups"]["colour"]["count"] == 10


def test_batches_leave_each_product_out_of_its_own_neighbours(text_index):
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.queries import CatalogQueries
    from retrieval_tagger.signals.compute import compute

    index = open_index(text_index)
    rows, fusion = leave_one_out.tagged_rows(index), fusion_of(index.manifest)
    runs = {}
    for batch in (7, 1024):
        got = list(leave_one_out.batches(index, index.ids, [""] * 30, rows, fusion, {"text"}, batch=batch))
        assert np.array_equal(np.concatenate([r for r, _, _ in got]), rows)
        assert all(set(found.scores) == {"text"} for _, found, _ in got)
        runs[batch] = np.concatenate([found.scores["text"] for _, found, _ in got])
    np.testing.assert_allclose(runs[7], runs[1024], atol=1e-6)
    queries = CatalogQueries(index).batch(rows)
    queries.self_rows = None  # each product among its own neighbours
    with_self = compute(index, queries, {"text"}, fusion).scores["text"]
    own = index.product_tags.toarray() > 0
    assert (with_self[own] > runs[7][own] + 1e-3).mean() > 0.5  # its own vote lifts its own tags
