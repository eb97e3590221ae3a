"""FAISS inner-product stores: choose the index type, build, save, load, search."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from retrieval_tagger.errors import RtagError

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
# Exact search stays fast (a few ms per query batch) up to this many vectors on a CPU.
EXACT_LIMIT = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
IVF_NPROBE = 16


def choose_type(n_vectors: int, requested: str = "auto") -> str:
    if requested not in INDEX_TYPES:
        raise RtagError(f"unknown index type {requested!r}: choose one of {', '.join(INDEX_TYPES)}")
    if requested != "auto":
        return requested
    return "flat" if n_vectors < EXACT_LIMIT else "hnsw"


def build(vectors: np.ndarray, index_type: str) -> tuple[object, dict]:
    """A FAISS index over unit vectors with inner-product metric, and its parameters."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    if index_type == "flat" or n == 0:
        index, params = faiss.IndexFlatIP(dim), {"type": "flat"}
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        params = {"type": "hnsw", "M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}
    elif index_type == "ivf":
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        params = {"type": "ivf", "nlist": nlist, "nprobe": IVF_NPROBE}
    else:
        raise RtagError(f"unknown index type {index_type!r}: choose one of {', '.join(INDEX_TYPES[1:])}")
    index.add(vectors)
    return index, params


def save(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load(path: Path, params: dict, use_gpu: bool = True):
    """Read an index (memory-mapped where faiss allows), apply search parameters, and
    move it to the GPUs when faiss has any."""
    import faiss

    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        index = faiss.read_index(str(path))
    if params.get("type") == "hnsw":
        index.hnsw.efSearch = int(params.get("efSearch", HNSW_EF_SEARCH))
    elif params.get("type") == "ivf":
        index.nprobe = int(params.get("nprobe", IVF_NPROBE))
    if use_gpu and params.get("type") == "flat" and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    return index


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` similarities and row numbers; rows are -1 where fewer than k exist."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = max(1, min(k, index.ntotal)) if index.ntotal else 0
    if k == 0 or len(queries) == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    sims, rows = index.search(queries, k)
    return sims, rows
