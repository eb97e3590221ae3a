"""The catalog tagged as its own queries: each product queried with its stored vectors and
left out of its own neighbours, as a new product would be tagged.

The reranker's training examples (rerank/training.py) and the score -> precision tables
that `rtag index` records (precision.py) both come from here, so both see the same
leave-one-out predictions.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Iterator

import numpy as np

from retrieval_tagger import artifacts, precision
from retrieval_tagger.queries import CatalogQueries
from retrieval_tagger.signals.compute import Signals, compute, prepare
from retrieval_tagger.signals.fuse import column_weights
from retrieval_tagger.signals.registry import signals_of
from retrieval_tagger.signals.settings import FusionSettings

BATCH = 1024
MAX_TABLE_SAMPLE = 10_000  # products the precision tables are measured on (by id hash)


def tagged_rows(index) -> np.ndarray:
    """Catalog rows with at least one tag."""
    return np.flatnonzero(np.diff(index.product_tags.indptr) > 0)


def sample_rows(ids: list[str], rows: np.ndarray, size: int | None) -> np.ndarray:
    """Up to ``size`` of ``rows`` (all when None), chosen by a hash of their ids."""
    return rows[artifacts.hash_sample([ids[r] for r in rows], size)] if size else rows


def batches(index, ids: list[str], texts: list[str], rows: np.ndarray, fusion: FusionSettings,
            wanted: set[str] | None = None, similarities: bool = False, batch: int = BATCH) -> Iterator[tuple[np.ndarray, Signals, np.ndarray]]:
    """``(rows, their signals, their fused scores)`` for catalog ``rows``, ``batch`` at a
    time, each product left out of its own neighbours.

    ``index`` is an opened index or what signals read of one while it is built
    (``signals.base.IndexView``); ``ids`` and ``texts`` are the products' ids and texts
    in row order (the index keeps vectors, not text; signals that read words need it).
    ``wanted`` names the signals to compute [default: every signal the index has].
    """
    names = signals_of(index)
    weights = column_weights(fusion.weights, index.vocab, names)
    prepared = prepare(index)
    catalog = CatalogQueries(SimpleNamespace(ids=ids, modalities=index.modalities))
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        queries = catalog.batch(chunk, [texts[r] for r in chunk])
        found = compute(index, queries, set(names) if wanted is None else wanted, fusion, prepared, similarities=similarities)
        yield chunk, found, found.fused(weights)


def fused_tables(index, ids: list[str], texts: list[str], fusion: FusionSettings, size: int = MAX_TABLE_SAMPLE) -> dict:
    """The score -> precision tables of the fused scores (precision.py), measured on up to
    ``size`` tagged catalog products left out of their own neighbours; JSON for the
    index's manifest (``precision``)."""
    rows = sample_rows(ids, tagged_rows(index), size)
    # the (batch x tags) score matrices bound the batch for large vocabularies
    batch = int(min(BATCH, max(64, 8_000_000 // max(len(index.vocab), 1))))
    wanted = {name for name, w in column_weights(fusion.weights, index.vocab, signals_of(index)).items() if (w > 0).any()}
    parts: dict[str, list] = {}
    for chunk, _, fused in batches(index, ids, texts, rows, fusion, wanted, batch=batch):
        truth = index.product_tags[chunk].toarray() > 0
        for name, picks in precision.group_picks(fused, truth, index.vocab).items():
            parts.setdefault(name, []).append(picks)
    curves = {name: precision.curve(np.concatenate([s for s, _ in got]), np.concatenate([c for _, c in got])) for name, got in parts.items()}
    return precision.tables_to_json(curves, "fused", len(rows))
