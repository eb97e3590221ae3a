"""``rtag train-reranker``'s work: gather training examples (leave-one-out on the index's
own catalog, or a labelled file tagged by a :class:`Tagger`), train the reranker, measure
it on the held-out queries and save it in the index folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import sparse

from retrieval_tagger.artifacts import sha256_file
from retrieval_tagger.catalog import read_catalog, spec_from_manifest
from retrieval_tagger.encoders.base import pick_device
from retrieval_tagger.errors import RerankerError
from retrieval_tagger.index.reader import open_index
from retrieval_tagger.pipeline import Tagger
from retrieval_tagger.progress import progress_bar
from retrieval_tagger.rerank import features, helps, model, report
from retrieval_tagger.rerank.training import (
    MIN_QUERIES,
    Examples,
    batch_examples,
    concat,
    leave_one_out,
    split_of,
)
from retrieval_tagger.signals.compute import signals_of


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
    return concat(parts, splits, truth_rows)


def _catalog_texts(index, catalog) -> dict[str, str]:
    """Product id -> text, read from the catalog the index was built from."""
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
    if sample is not None and sample < MIN_QUERIES:
        raise RerankerError(f"--sample must be at least {MIN_QUERIES}, got {sample}")
    tagger = None
    if labelled is not None:
        tagger = Tagger.load(index_name, device=device, rerank=False)  # a stale one must not block retraining
        index = tagger.index
        products, _ = read_catalog(labelled, spec_from_manifest(index.manifest["catalog"]["columns"]), purpose="query", known_tags=index.vocab.tags)
        products = [p for p in products if p.tags and not p.problem]
        total = len(products)
    else:
        index = open_index(index_name, device=pick_device(device))
        total = min(sample or len(index.ids), len(index.ids))
    names = model.expected_features(index)
    with progress_bar(total, "examples", "product", progress) as bar:
        if tagger is not None:
            examples = from_tagger(tagger, products, names, bar.update)
        else:
            examples = leave_one_out(index, _catalog_texts(index, catalog), names, sample, bar.update)
    reranker, info = model.train(examples, names, signals_of(index), index)
    info["source"] = str(labelled) if labelled is not None else "leave-one-out on the catalog"
    info["features"] = names
    info["report"] = report.held_out(examples, reranker, index.vocab)
    # where reranking beats the fused scores on the held-out queries, and its precision tables there
    fused, reranked, truth = helps.held_out(examples, reranker, len(index.vocab))
    info["helps"] = helps.where_it_helps(fused, reranked, truth, index.vocab)
    info["precision"] = helps.reranked_tables(reranked, truth, index.vocab)
    info["folder"] = str(model.save(reranker, index, info))
    return info
