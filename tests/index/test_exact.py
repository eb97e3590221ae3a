"""Exact inner products and re-scoring: each row's values do not depend on its batch-mates."""

from __future__ import annotations

import numpy as np

from retrieval_tagger.index import exact, store


def unit(rng, n, d=48):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_inner_products_of_a_row_alone_equal_its_row_in_a_batch():
    rng = np.random.default_rng(0)
    queries, targets = unit(rng, 300), unit(rng, 500)
    whole = exact.inner_products(queries, targets)
    assert whole.dtype == np.float32 and whole.shape == (300, 500)
    alone = np.concatenate([exact.inner_products(queries[i:i + 1], targets) for i in range(300)])
    np.testing.assert_array_equal(whole, alone)
    np.testing.assert_allclose(whole, queries @ targets.T, atol=1e-5)


def test_rescore_orders_by_similarity_then_row_and_puts_missing_rows_last():
    vectors = np.array([[1, 0], [1, 0], [0, 1], [0.6, 0.8]], np.float32)
    queries = np.array([[1, 0]], np.float32)
    rows = np.array([[2, 1, -1, 3, 0]])
    sims, top = exact.rescore(queries, vectors, rows, 5)
    assert top.tolist() == [[0, 1, 3, 2, -1]]  # the tie between rows 0 and 1: lower row first
    np.testing.assert_allclose(sims[0, :4], [1, 1, 0.6, 0])
    assert sims[0, 4] == -np.inf


def test_store_search_is_exact_and_batch_independent_for_flat_and_hnsw_stores():
    import faiss

    rng = np.random.default_rng(1)
    vectors, queries = unit(rng, 2000), unit(rng, 64)
    truth = np.argsort(-(queries.astype(np.float64) @ vectors.T.astype(np.float64)), axis=1, kind="stable")[:, :10]
    for factory in ("Flat", "HNSW32,Flat"):
        index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        index.add(vectors)
        sims, rows = store.search(index, queries, 10)
        alone = [store.search(index, queries[i:i + 1], 10) for i in range(len(queries))]
        np.testing.assert_array_equal(sims, np.concatenate([a[0] for a in alone]))
        np.testing.assert_array_equal(rows, np.concatenate([a[1] for a in alone]))
        if factory == "Flat":
            np.testing.assert_array_equal(rows, truth)
