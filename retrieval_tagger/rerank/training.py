"""Training examples for the reranker, without labels beyond the catalog's own tags.

Each sampled catalog product is queried with its own stored vectors and left out of its
neighbours and of the tag statistics (leave-one-out), as a new product would be. A
separate labelled file can be used instead. Queries are split by a hash of their id into
``fit`` (the trees), ``calibrate`` (early stopping and the probability map) and
``report`` (the figures the manifest records).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from retrieval_tagger.candidates.fuse import column_weights
from retrieval_tagger.candidates.mentions import MentionMatcher
from retrieval_tagger.candidates.fit import DEFAULT_FUSION
from retrieval_tagger.candidates.signals import Queries, Signals, compute, signals_of
from retrieval_tagger.errors import RerankerError
from retrieval_tagger.index import store
from retrieval_tagger.rerank import features

SPLITS = ("fit", "calibrate", "report")
SPLIT_SHARES = (70, 85)  # hash buckets below 70: fit, below 85: calibrate, the rest: report
BATCH = 1024
MIN_QUERIES = 30


def split_of(product_id: str) -> int:
    """0 (fit), 1 (calibrate) or 2 (report), from a hash of the id."""
    bucket = int(hashlib.sha1(("rerank:" + product_id).encode("utf-8")).hexdigest()[:8], 16) % 100
    return int(np.searchsorted(SPLIT_SHARES, bucket, side="right"))


@dataclass
class Examples:
    """Candidate rows of many queries: features, labels, and where each row came from."""

    x: np.ndarray  # (rows x features)
    y: np.ndarray  # (rows,) 1 when the candidate is one of the product's tags
    query: np.ndarray  # (rows,) query number
    col: np.ndarray  # (rows,) the candidate's tag column
    split: np.ndarray  # (queries,) see SPLITS
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


def _concat(parts: list[tuple], splits: list[int], truth_rows: list) -> Examples:
    if not parts:
        raise RerankerError(f"no tagged products to train the reranker on: it needs at least {MIN_QUERIES}")
    xs, ys, qs, cs = zip(*parts)
    return Examples(np.concatenate(xs), np.concatenate(ys), np.concatenate(qs), np.concatenate(cs),
                    np.asarray(splits), sparse.vstack(truth_rows).tocsr())


def leave_one_out(index, product_texts: dict[str, str], names: list[str], sample: int | None, progress=None) -> Examples:
    """Examples from the index's own tagged products (up to ``sample`` of them, by id hash).

    ``product_texts`` maps product ids to their text (the index keeps vectors, not text;
    the mentions signal needs the words).
    """
    tagged = np.flatnonzero(np.diff(index.product_tags.indptr) > 0)
    if len(tagged) < MIN_QUERIES:
        raise RerankerError(f"index {index.folder} has {len(tagged)} tagged products; the reranker needs at least {MIN_QUERIES}")
    keys = np.asarray([hashlib.sha1(index.ids[i].encode("utf-8")).digest()[:8] for i in tagged])
    chosen = np.sort(tagged[np.argsort(keys, kind="stable")[:sample]]) if sample else tagged
    fusion = index.manifest.get("fusion") or DEFAULT_FUSION
    weights = column_weights(fusion["weights"], index.vocab, signals_of(index))
    mentions = MentionMatcher(index.vocab)
    table = features.TagTable.from_index(index)
    stored = {name: (store.stored_vectors(m.index), m.rows) for name, m in index.modalities.items()}
    vector_at = {name: _row_lookup(rows, len(index.ids)) for name, (_, rows) in stored.items()}
    parts, splits, truth_rows, offset = [], [], [], 0
    for start in range(0, len(chosen), BATCH):
        rows = chosen[start:start + BATCH]
        queries = _catalog_queries(rows, stored, vector_at, index, product_texts)
        found = compute(index, queries, set(signals_of(index)), fusion, mentions, similarities=True)
        truth = index.product_tags[rows]
        x, y, q, c = batch_examples(found, found.fused(weights), truth.toarray() > 0, table, index, names, rows)
        parts.append((x, y, q + offset, c))
        splits += [split_of(index.ids[r]) for r in rows]
        truth_rows.append(truth)
        offset += len(rows)
        if progress is not None:
            progress(len(rows))
    return _concat(parts, splits, truth_rows)


def from_tagger(tagger, products, names: list[str], progress=None) -> Examples:
    """Examples from labelled products (with tags), encoded by ``tagger``; products that
    are in the index are left out of their own neighbours."""
    table = features.TagTable.from_index(tagger.index)
    vocab = tagger.index.vocab
    parts, splits, truth_rows, offset = [], [], [], 0
    for chunk, found, fused, self_rows in tagger.batch_signals(products, every=True, exclude_self=True):
        indptr, indices = vocab.encode_lists([p.tags for p in chunk])
        truth = sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(chunk), len(vocab)))
        x, y, q, c = batch_examples(found, fused, truth.toarray() > 0, table, tagger.index, names, self_rows)
        parts.append((x, y, q + offset, c))
        splits += [split_of(p.id) for p in chunk]
        truth_rows.append(truth)
        offset += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return _concat(parts, splits, truth_rows)


def _row_lookup(rows: np.ndarray, n_products: int) -> np.ndarray:
    """Product row -> position of its vector in a store (-1: none)."""
    at = np.full(n_products, -1, dtype=np.int64)
    at[rows] = np.arange(len(rows))
    return at


def _catalog_queries(rows: np.ndarray, stored: dict, vector_at: dict, index, product_texts: dict[str, str]) -> Queries:
    text_pos = vector_at["text"][rows]
    text_at = np.flatnonzero(text_pos >= 0)
    texts = [product_texts.get(index.ids[rows[i]], "") for i in text_at]
    queries = Queries(len(rows), text_at, texts, stored["text"][0][text_pos[text_at]], np.zeros(0, np.int64), self_rows=rows)
    if "image" in stored:
        image_pos = vector_at["image"][rows]
        queries.image_at = np.flatnonzero(image_pos >= 0)
        queries.image_vectors = stored["image"][0][image_pos[queries.image_at]]
        queries.colour_vectors = stored["colour"][0][vector_at["colour"][rows][queries.image_at]]
    return queries


def _catalog_texts(index, catalog) -> dict[str, str]:
    """Product id -> text, read from the catalog the index was built from."""
    from retrieval_tagger.catalog import read_catalog
    from retrieval_tagger.cli.common import spec_from_manifest
    from retrieval_tagger.index.manifest import sha256_file

    recorded = index.manifest["catalog"]
    path = Path(catalog or recorded["path"])
    if not path.is_file():
        raise RerankerError(f"the catalog {path} that built index {index.folder} is not there: pass --catalog with its current path")
    if sha256_file(path) != recorded["sha256"]:
        raise RerankerError(f"{path} is not the catalog that built index {index.folder} (its sha256 differs): pass the original with --catalog, or rebuild the index")
    products, _ = read_catalog(path, spec_from_manifest(recorded["columns"]))
    return {p.id: p.text for p in products}


def train_index(index_name, catalog=None, labelled=None, sample: int | None = None, device: str | None = None, progress: bool | None = None) -> dict:
    """Train a reranker for an index (leave-one-out on its catalog, or on a ``labelled``
    file), measure it on the held-out queries, save it in the index folder, and return
    its training record."""
    from retrieval_tagger.encoders.base import show_progress
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.rerank import model, report

    if sample is not None and sample < MIN_QUERIES:
        raise RerankerError(f"--sample must be at least {MIN_QUERIES}, got {sample}")
    tagger = None
    if labelled is not None:
        from retrieval_tagger.catalog import read_catalog
        from retrieval_tagger.cli.common import spec_from_manifest
        from retrieval_tagger.pipeline import Tagger

        tagger = Tagger.load(index_name, device=device, rerank=False)  # a stale one must not block retraining
        index = tagger.index
        products, _ = read_catalog(labelled, spec_from_manifest(index.manifest["catalog"]["columns"]), purpose="query")
        products = [p for p in products if p.tags and not p.problem]
        total = len(products)
    else:
        index = open_index(index_name)
        total = min(sample or len(index.ids), len(index.ids))
    names = model.expected_features(index)
    bar = None
    if show_progress(total, progress):
        from tqdm import tqdm

        bar = tqdm(total=total, desc="examples", unit="product")
    tick = bar.update if bar is not None else None
    if tagger is not None:
        examples = from_tagger(tagger, products, names, tick)
    else:
        examples = leave_one_out(index, _catalog_texts(index, catalog), names, sample, tick)
    if bar is not None:
        bar.close()
    reranker, info = model.train(examples, names, signals_of(index), index)
    info["source"] = str(labelled) if labelled is not None else "leave-one-out on the catalog"
    info["features"] = names
    info["report"] = report.held_out(examples, reranker, index.vocab)
    info["folder"] = str(model.save(reranker, index, info))
    return info
