"""FAISS inner-product stores: choose the index type, build, save, load, search."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from retrieval_tagger.errors import RtagError

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf", "ivf-sq8")
# Exact search streams every vector for every query: above this many a single query costs
# milliseconds on a CPU while HNSW answers in a tenth of one, at recall@10 0.99 (measured
# at 20k and 100k vectors, benchmarks/README.md). A GPU scans a million in well under a
# millisecond, so indexes built on one stay exact up to EXACT_LIMIT_GPU.
EXACT_LIMIT = 10_000
EXACT_LIMIT_GPU = 1_000_000
# Above this many vectors float32 copies no longer fit a small server (1.5 GiB per
# million 384-d vectors): 8-bit codes take a quarter of that.
COMPACT_LIMIT = 2_000_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
IVF_NPROBE = 16
TRAIN_SAMPLE = 200_000  # vectors that train the IVF centroids
IVF_TYPES = ("ivf", "ivf-sq8")
KNOBS = {"hnsw": "efSearch", **{kind: "nprobe" for kind in IVF_TYPES}}


def choose_type(n_vectors: int, requested: str = "auto", device: str = "cpu") -> str:
    """The store type for ``n_vectors`` vectors: ``requested``, or by size for ``auto``
    (exact up to EXACT_LIMIT, or EXACT_LIMIT_GPU when ``device`` is a GPU; HNSW up to
    COMPACT_LIMIT; IVF with 8-bit codes above)."""
    if requested not in INDEX_TYPES:
        raise RtagError(f"unknown index type {requested!r}: choose one of {', '.join(INDEX_TYPES)}")
    if requested != "auto":
        return requested
    if n_vectors < (EXACT_LIMIT_GPU if str(device).startswith("cuda") else EXACT_LIMIT):
        return "flat"
    return "hnsw" if n_vectors < COMPACT_LIMIT else "ivf-sq8"


def n_lists(n_vectors: int, n_train: int) -> int:
    """IVF lists: a power of two near 4 sqrt(n), with at least 39 training vectors each."""
    most = max(1, n_train // 39)
    target = max(1.0, min(4 * math.sqrt(max(n_vectors, 1)), most))
    lists = 2 ** int(round(math.log2(target)))
    return lists if lists <= most else lists // 2


def empty(dim: int, n_vectors: int, index_type: str, train: np.ndarray | None = None) -> tuple[object, dict]:
    """An empty (trained, where the type needs it) FAISS index over unit vectors with the
    inner-product metric, for about ``n_vectors`` vectors, and its parameters.

    IVF types train their centroids on ``train`` (at most TRAIN_SAMPLE rows are used).
    """
    import faiss

    if index_type == "flat" or n_vectors == 0:
        return faiss.IndexFlatIP(dim), {"type": "flat"}
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index, {"type": "hnsw", "M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}
    if index_type not in IVF_TYPES:
        raise RtagError(f"unknown index type {index_type!r}: choose one of {', '.join(INDEX_TYPES[1:])}")
    if train is None or len(train) == 0:
        raise RtagError(f"an {index_type} index needs training vectors")
    train = np.ascontiguousarray(train[:TRAIN_SAMPLE], dtype=np.float32)
    nlist = n_lists(n_vectors, len(train))
    quantizer = faiss.IndexFlatIP(dim)
    if index_type == "ivf":
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    index.own_fields = True
    quantizer.this.disown()
    index.train(train)
    return index, {"type": index_type, "nlist": nlist, "nprobe": IVF_NPROBE}


def build(vectors: np.ndarray, index_type: str) -> tuple[object, dict]:
    """A FAISS index over unit vectors with inner-product metric, and its parameters."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    train = None
    if index_type in IVF_TYPES and n:
        rng = np.random.default_rng(0)
        train = vectors[np.sort(rng.choice(n, min(n, TRAIN_SAMPLE), replace=False))]
    index, params = empty(dim, n, index_type, train)
    index.add(vectors)
    return index, params


def save(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def _fast_cpu_dtype():
    """bfloat16 where the CPU multiplies it natively (AVX512-BF16/AMX: measured 2x faster
    than float32 here), else float32."""
    import torch

    try:
        return torch.bfloat16 if torch.cpu._is_avx512_bf16_supported() else torch.float32
    except AttributeError:
        return torch.float32


class ExactSearch:
    """Exact inner-product search as a chunked matrix product in torch.

    On a CPU this is 3-5x faster than faiss's flat scan (measured on 36k x 384 and
    x 1280 vectors, 2 cores), and it is the GPU path where faiss has no GPU build. The
    scan may run in half precision (float16 on CUDA, bfloat16 on CPUs that support it);
    its shortlist of 2k+16 is then re-scored in float32, so results are exact.
    It keeps a reference to the faiss index whose (possibly memory-mapped) vectors it reads.
    """

    BLOCK = 64_000_000  # similarities computed at once on a CPU: 256 MB of float32
    BLOCK_GPU = 1_000_000_000  # on a GPU: 2 GB of float16, 1,000 queries x 1M vectors per product

    def __init__(self, index, device: str | None = None, scan_dtype=None):
        import faiss
        import torch

        self.index = index
        self.ntotal, self.d = int(index.ntotal), int(index.d)
        vectors = faiss.rev_swig_ptr(index.get_xb(), self.ntotal * self.d).reshape(self.ntotal, self.d) if self.ntotal else np.zeros((0, self.d), np.float32)
        self.exact = vectors
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if scan_dtype is None:
            scan_dtype = torch.float16 if self.device.startswith("cuda") else _fast_cpu_dtype()
        self.dtype = scan_dtype
        self.vectors = torch.from_numpy(vectors).to(self.device, self.dtype)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        rescore = self.dtype != torch.float32
        shortlist = min(self.ntotal, 2 * k + 16) if rescore else k
        block = self.BLOCK_GPU if self.device.startswith("cuda") else self.BLOCK
        chunk = max(1, int(block // max(self.ntotal, 1)))
        sims_out, rows_out = [], []
        with torch.inference_mode():
            for start in range(0, len(queries), chunk):
                q = queries[start:start + chunk]
                top = torch.topk(torch.from_numpy(q).to(self.device, self.dtype) @ self.vectors.T, shortlist, dim=1)
                rows = top.indices.cpu().numpy().astype(np.int64)
                if rescore:
                    sims = np.einsum("nd,nsd->ns", q, self.exact[rows])
                    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
                    sims, rows = np.take_along_axis(sims, order, axis=1), np.take_along_axis(rows, order, axis=1)
                else:
                    sims = top.values.float().cpu().numpy()
                sims_out.append(sims.astype(np.float32))
                rows_out.append(rows)
        return np.concatenate(sims_out), np.concatenate(rows_out)


def searcher(index, params: dict, use_gpu: bool = True):
    """What to search with: faiss's GPU index when faiss has GPUs, torch for other exact
    indexes, faiss itself for approximate ones (with their search parameters set)."""
    import faiss

    kind = params.get("type")
    if kind == "hnsw":
        index.hnsw.efSearch = int(params.get("efSearch", HNSW_EF_SEARCH))
    elif kind in IVF_TYPES:
        index.nprobe = int(params.get("nprobe", IVF_NPROBE))
    elif kind == "flat":
        if use_gpu and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
            return faiss.index_cpu_to_all_gpus(index)
        return ExactSearch(index, None if use_gpu else "cpu")
    return index


def load(path: Path, params: dict, use_gpu: bool = True):
    """Read an index (memory-mapped where faiss allows) and return its searcher."""
    import faiss

    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        index = faiss.read_index(str(path))
    return searcher(index, params, use_gpu)


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` similarities and row numbers; rows are -1 where fewer than k exist."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = max(1, min(k, index.ntotal)) if index.ntotal else 0
    if k == 0 or len(queries) == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    sims, rows = index.search(queries, k)
    return sims, rows


def stored_vectors(searcher) -> np.ndarray:
    """The vectors a searcher holds, in store order (the catalog queried as itself, for
    leave-one-out training)."""
    if isinstance(searcher, ExactSearch):
        return searcher.exact
    import faiss

    index = searcher
    if type(index).__name__.startswith("Gpu") or type(index).__name__ == "IndexReplicas":
        index = faiss.index_gpu_to_cpu(index)
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    return index.reconstruct_n(0, index.ntotal)
