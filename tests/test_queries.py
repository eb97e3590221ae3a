"""Queries: the catalog queried as itself (leaving each product out), the image stream that
spans a call's chunks, and encoding one chunk ahead (what a GPU encoder gets), on the CPU."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from toy_catalog import catalog_rows

from retrieval_tagger import queries as query_encoding
from retrieval_tagger.pipeline import Tagger
from retrieval_tagger.queries import RowStream, ahead


def test_row_stream_hands_out_runs_across_batches():
    batches = [(np.full((n, 2), i, np.float32), np.full((n, 64), i, np.float32), np.ones(n, bool)) for i, n in enumerate((3, 1, 4))]
    stream = RowStream(iter(batches), 2)
    runs = [stream.take(n) for n in (2, 0, 5, 1)]
    assert [len(r[2]) for r in runs] == [2, 0, 5, 1]
    assert runs[1][0].shape == (0, 2) and runs[1][1].shape == (0, 64)
    assert runs[0][0][:, 0].tolist() == [0, 0] and runs[2][0][:, 0].tolist() == [0, 1, 2, 2, 2] and runs[3][0][:, 0].tolist() == [2]


def test_ahead_keeps_order_and_raises_the_producers_error():
    assert list(ahead(iter(range(10)))) == list(range(10))

    def broken():
        yield 1
        raise ValueError("bad image batch")

    got = []
    with pytest.raises(ValueError, match="bad image batch"):
        for item in ahead(broken()):
            got.append(item)
    assert got == [1]


def test_ahead_stops_its_thread_when_the_consumer_stops():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = ahead(endless())
    assert next(stream) == 0
    stream.close()
    assert not any(t.name == "rtag-encode-ahead" for t in threading.enumerate())
    assert len(produced) <= 3


def test_encoding_ahead_on_a_gpu_device_scores_as_in_order(both_index, catalog_dir, monkeypatch):
    """The chunks encoded one ahead in a thread (what a GPU encoder gets) score exactly as
    chunks encoded in turn, whatever the chunk size."""
    products = [{"id": f"q{i}", "text": row["title"], "image": str(catalog_dir / row["image"])} for i, row in enumerate(catalog_rows())]
    products[4]["image"] = str(catalog_dir / "missing.png")
    products[9]["image"] = None
    tagger = Tagger.load(both_index)
    whole, present, _, warnings = tagger.score(products, chunk_size=1000)
    threaded = []
    monkeypatch.setattr(query_encoding, "ahead", lambda items: threaded.append(1) or ahead(items))
    tagger.text_encoder.device = "cuda"  # the model-free text encoder computes on the CPU whatever its device says
    try:
        ahead_scores, ahead_present, _, ahead_warnings = tagger.score(products, chunk_size=7)
    finally:
        del tagger.text_encoder.device
    assert threaded == [1]
    np.testing.assert_allclose(ahead_scores, whole, atol=1e-6)
    assert ahead_present.tolist() == present.tolist()
    assert ahead_warnings == warnings and "missing.png" in warnings[4]


def test_leave_one_out_examples_exclude_the_query_itself(both_index):
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.queries import CatalogQueries
    from retrieval_tagger.signals.compute import compute
    from retrieval_tagger.signals.registry import fusion_of

    index = open_index(both_index)
    rows = np.arange(len(index.ids))
    queries = CatalogQueries(index).batch(rows, ["" for _ in rows])
    found = compute(index, queries, {"text", "image", "colour"}, fusion_of(index.manifest), similarities=True)
    for name, extras in found.extras.items():
        nb_rows = extras["rows"]
        assert (nb_rows != rows[:, None]).all(), name
        assert (nb_rows >= 0).all()  # the k nearest others, none missing
    # the same search without leaving out finds each product itself first
    queries.self_rows = None
    found_self = compute(index, queries, {"text"}, fusion_of(index.manifest), similarities=True)
    assert (found_self.extras["text"]["rows"][:, 0] == rows).mean() > 0.9
