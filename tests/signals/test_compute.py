"""``compute`` over the registry: each wanted signal the index has scores the rows that
have its inputs, and keeps what the reranker reads only when asked."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.queries import Queries
from retrieval_tagger.signals import registry
from retrieval_tagger.signals.compute import compute, prepare


@pytest.fixture(scope="module")
def index(both_index):
    from retrieval_tagger.index.reader import open_index

    return open_index(both_index)


def test_rows_without_an_input_are_absent_from_its_signals(index):
    from retrieval_tagger.queries import CatalogQueries

    catalog = CatalogQueries(index).batch(np.arange(4), ["red cotton shirt"] * 4)
    # rows 0 and 2 keep their text, rows 1 and 3 their photo only
    queries = Queries(4, np.asarray([0, 2]), catalog.texts[:2], catalog.text_vectors[[0, 2]], np.asarray([1, 3]),
                      catalog.image_vectors[[1, 3]], catalog.colour_vectors[[1, 3]], self_rows=np.arange(4))
    fusion = registry.fusion_of(index.manifest)

    found = compute(index, queries, set(registry.names()), fusion, prepare(index), similarities=True)

    assert list(found.scores) == registry.names()
    for name in ("text", "names", "mentions"):
        assert found.present[name].tolist() == [True, False, True, False], name
        assert not found.scores[name][[1, 3]].any()
    for name in ("image", "colour"):
        assert found.present[name].tolist() == [False, True, False, True], name
        assert (found.extras[name]["rows"][[0, 2]] == -1).all() and (found.extras[name]["rows"][[1, 3]] >= 0).all()
    assert np.isnan(found.extras["names"]["text_sims"][[1, 3]]).all()
    plain = compute(index, queries, {"text", "mentions", "not-a-signal"}, fusion)
    assert list(plain.scores) == ["text", "mentions"] and plain.extras == {}
    np.testing.assert_array_equal(plain.scores["text"], found.scores["text"])


def test_a_batch_without_photos_still_gets_empty_neighbours(index):
    queries = Queries(2, np.zeros(0, np.int64), [], None, np.zeros(0, np.int64))
    found = compute(index, queries, {"image", "colour"}, registry.fusion_of(index.manifest), similarities=True)
    for name in ("image", "colour"):
        assert found.extras[name]["rows"].shape == (2, 0) and not found.present[name].any()
