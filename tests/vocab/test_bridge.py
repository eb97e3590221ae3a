"""Neighbours' titles as a bridge to tag names: the catalog's title vectors, and each
query's neighbours' titles weighted as in voting."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from retrieval_tagger.index import store
from retrieval_tagger.index.reader import Modality
from retrieval_tagger.signals.knn import neighbour_weights
from retrieval_tagger.vocab.bridge import bridged, catalog_titles


@pytest.fixture(scope="module")
def index(both_index):
    from retrieval_tagger.index.reader import open_index

    return open_index(both_index)


def test_catalog_titles_are_the_stored_text_vectors_in_product_order(index):
    titles = catalog_titles(index)
    text = index.modalities["text"]
    assert titles.shape == (len(index.ids), 64) and titles.dtype == np.float32
    np.testing.assert_array_equal(titles[text.rows], store.stored_vectors(text.index))


def test_products_without_text_have_zero_rows_and_an_index_without_text_has_none():
    vectors = np.eye(4, dtype=np.float32)[:2]
    flat, _ = store.build(vectors, "flat")
    sparse_text = SimpleNamespace(ids=["a", "b", "c"], modalities={"text": Modality(flat, np.array([0, 2]))})
    np.testing.assert_array_equal(catalog_titles(sparse_text), [vectors[0], np.zeros(4), vectors[1]])
    assert catalog_titles(SimpleNamespace(ids=["a"], modalities={})) is None


def test_one_neighbour_bridges_to_its_own_title(index):
    titles = catalog_titles(index)
    image = index.modalities["image"]
    photos = store.stored_vectors(image.index)[:5]
    rows = image.rows[:5]
    # the nearest photo of each is itself: its product's own title comes back
    np.testing.assert_allclose(bridged(index, "image", photos, titles, k=1, temperature=0.05), titles[rows], atol=1e-6)
    # left out of its own neighbours, the nearest other product's title
    _, others = store.search(image.index, photos, 2)
    np.testing.assert_allclose(bridged(index, "image", photos, titles, k=1, temperature=0.05, self_rows=rows),
                               titles[image.rows[others[:, 1]]], atol=1e-6)


def test_many_neighbours_mix_their_titles_by_their_vote_weights(index):
    titles = catalog_titles(index)
    text = index.modalities["text"]
    queries = store.stored_vectors(text.index)[[3, 17]]
    sims, found = store.search(text.index, queries, 4)
    weights = neighbour_weights(sims, found, 0.5)
    mixed = np.einsum("qk,qkd->qd", weights, titles[text.rows[found]])
    expected = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    got = bridged(index, "text", queries, titles, k=4, temperature=0.5)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
