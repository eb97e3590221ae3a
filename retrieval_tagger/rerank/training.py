"""Training examples for the reranker, without labels beyond the catalog's own tags.

Each sampled catalog product is queried with its own stored vectors and left out of its
neighbours and of the tag statistics (leave-one-out), as a new product would be. A
separate labelled file can be used instead. Queries are split by a hash of their id into
``fit`` (the trees), ``calibrate`` (early stopping and the probability map) and
``report`` (the figures the manifest records).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from retrieval_tagger import artifacts
from retrieval_tagger import leave_one_out as catalog_loo
from retrieval_tagger.errors import RerankerError
from retrieval_tagger.rerank import features
from retrieval_tagger.signals.compute import Signals
from retrieval_tagger.signals.registry import fusion_of

SPLIT_SHARES = (70, 85)  # hash buckets below 70: fit, below 85: calibrate, the rest: report
BATCH = 1024
MIN_QUERIES = 30


def split_of(product_id: str) -> int:
    """0 (fit), 1 (calibrate) or 2 (report), from a hash of the id."""
    bucket = artifacts.hash_bucket(product_id, 100, salt="rerank:")
    return int(np.searchsorted(SPLIT_SHARES, bucket, side="right"))


@dataclass
class Examples:
    """Candidate rows of many queries: features, labels, and where each row came from."""

    x: np.ndarray  # (rows x features)
    y: np.ndarray  # (rows,) 1 when the candidate is one of the product's tags
    query: np.ndarray  # (rows,) query number
    col: np.ndarray  # (rows,) the candidate's tag column
    split: np.ndarray  # (queries,) 0 fit, 1 calibrate, 2 report (see split_of)
    truth: sparse.csr_matrix  # (queries x tags) the queries' true tags

    def rows_of(self, split: int) -> np.ndarray:
        return np.flatnonzero(self.split[self.query] == split)


def batch_examples(found: Signals, fused: np.ndarray, truth: np.ndarray, table: features.TagTable, index,
                   names: list[str], self_rows: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Features, labels, query numbers (within the batch) and columns of a batch's real candidates."""
    batch = features.build(found, fused, table, index, names, self_rows)
    q, c = np.nonzero(batch.valid)
    cols = batch.cand[q, c]
    return batch.x[q, c], truth[q, cols].astype(np.float32), q, cols


def concat(parts: list[tuple], splits: list[int], truth_rows: list) -> Examples:
    if not parts:
        raise RerankerError(f"no tagged products to train the reranker on: it needs at least {MIN_QUERIES}")
    xs, ys, qs, cs = zip(*parts)
    return Examples(np.concatenate(xs), np.concatenate(ys), np.concatenate(qs), np.concatenate(cs),
                    np.asarray(splits), sparse.vstack(truth_rows).tocsr())


def leave_one_out(index, product_texts: dict[str, str], names: list[str], sample: int | None, progress=None) -> Examples:
    """Examples from the index's own tagged products (up to ``sample`` of them, by id hash).

    ``product_texts`` maps product ids to their text (the index keeps vectors, not text;
    signals that read words need it).
    """
    tagged = catalog_loo.tagged_rows(index)
    if len(tagged) < MIN_QUERIES:
        raise RerankerError(f"index {index.folder} has {len(tagged)} tagged products; the reranker needs at least {MIN_QUERIES}")
    chosen = catalog_loo.sample_rows(index.ids, tagged, sample)
    table = features.TagTable.from_index(index)
    texts = [product_texts.get(i, "") for i in index.ids]
    parts, splits, truth_rows, offset = [], [], [], 0
    for rows, found, fused in catalog_loo.batches(index, index.ids, texts, chosen, fusion_of(index.manifest), similarities=True, batch=BATCH):
        truth = index.product_tags[rows]
        x, y, q, c = batch_examples(found, fused, truth.toarray() > 0, table, index, names, rows)
        parts.append((x, y, q + offset, c))
        splits += [split_of(index.ids[r]) for r in rows]
        truth_rows.append(truth)
        offset += len(rows)
        if progress is not None:
            progress(len(rows))
    return concat(parts, splits, truth_rows)
