"""FAISS inner-product stores: index types as faiss factory strings; build, save, load, search.

A store's manifest entry records its type, its ``faiss.index_factory`` string and the
``faiss.ParameterSpace`` settings it is searched with, e.g. ``{"type": "hnsw", "factory":
"HNSW32,Flat", "build": {"efConstruction": 80}, "search": {"efSearch": 96}}``. Exact stores
are searched with numpy on a CPU (no torch), with faiss or torch on a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval_tagger.errors import IndexFormatError, RtagError
from retrieval_tagger.index import exact

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
# Extra candidates re-scored so that rounding in the scan cannot change the top k
RESCORE_MARGIN = 8


@dataclass(frozen=True)
class IndexType:
    """A store type: a ``faiss.index_factory`` string (``{nlist}`` is filled in from the
    catalog's size) and the ``faiss.ParameterSpace`` settings applied before vectors are
    added (``build``) and before every search (``search``)."""

    factory: str
    build: dict = field(default_factory=dict)
    search: dict = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """Whether the index learns centroids from a sample before vectors are added."""
        return "{nlist}" in self.factory


# Adding a store type is one line here (and choose_type's rule, if auto should pick it).
TYPES = {
    "flat": IndexType("Flat"),
    "hnsw": IndexType(f"HNSW{HNSW_M},Flat", build={"efConstruction": HNSW_EF_CONSTRUCTION}, search={"efSearch": HNSW_EF_SEARCH}),
    "ivf": IndexType("IVF{nlist},Flat", search={"nprobe": IVF_NPROBE}),
    "ivf-sq8": IndexType("IVF{nlist},SQ8", search={"nprobe": IVF_NPROBE}),
}
INDEX_TYPES = ("auto", *TYPES)


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


def _on_gpu(device: str | None) -> bool:
    return str(device).startswith("cuda")


def empty(dim: int, n_vectors: int, index_type: str, train: np.ndarray | None = None) -> tuple[object, dict]:
    """An empty (trained, where the type needs it) FAISS index over unit vectors with the
    inner-product metric, for about ``n_vectors`` vectors, and its manifest entry.

    IVF types train their centroids on ``train`` (at most TRAIN_SAMPLE rows are used).
    """
    import faiss

    if index_type not in TYPES:
        raise RtagError(f"unknown index type {index_type!r}: choose one of {', '.join(TYPES)}")
    if n_vectors == 0:
        index_type = "flat"  # nothing to approximate
    kind = TYPES[index_type]
    factory = kind.factory
    if kind.trained:
        if train is None or len(train) == 0:
            raise RtagError(f"an {index_type} index needs training vectors")
        train = np.ascontiguousarray(train[:TRAIN_SAMPLE], dtype=np.float32)
        factory = factory.format(nlist=n_lists(n_vectors, len(train)))
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    _set_parameters(index, kind.build)
    if kind.trained:
        index.train(train)
    params = {"type": index_type, "factory": factory, "build": dict(kind.build), "search": dict(kind.search)}
    return index, {key: value for key, value in params.items() if value != {}}


def build(vectors: np.ndarray, index_type: str) -> tuple[object, dict]:
    """A FAISS index over unit vectors with inner-product metric, and its manifest entry."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    train = None
    if index_type in TYPES and TYPES[index_type].trained and n:  # an unknown type is refused by empty()
        rng = np.random.default_rng(0)
        train = vectors[np.sort(rng.choice(n, min(n, TRAIN_SAMPLE), replace=False))]
    index, params = empty(dim, n, index_type, train)
    index.add(vectors)
    return index, params


def save(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def search_parameters(params: dict) -> dict:
    """The ParameterSpace settings a store is searched with: its manifest entry's
    ``search``, or in manifests written before factory strings, the type's knobs under
    their own names (``efSearch``; ``nprobe``), else the type's defaults."""
    kind = TYPES.get(params.get("type"))
    if kind is None:
        raise IndexFormatError(f"unknown store type {params.get('type')!r} in the index manifest (this rtag knows {', '.join(TYPES)}): rebuild the index with `rtag index ... --force`")
    if "search" in params:
        return dict(params["search"])
    return {name: params.get(name, value) for name, value in kind.search.items()}


def _set_parameters(index, settings: dict) -> None:
    import faiss

    space = faiss.ParameterSpace()
    for name, value in settings.items():
        space.set_index_parameter(index, name, value)


def flat_vectors(index) -> np.ndarray:
    """The (n, d) float32 vectors of a flat faiss index, without a copy (memory-mapped
    where the index was read so)."""
    import faiss

    n, d = int(index.ntotal), int(index.d)
    if n == 0:
        return np.zeros((0, d), np.float32)
    return faiss.rev_swig_ptr(index.get_xb(), n * d).reshape(n, d)


class TorchExactSearch:
    """Exact inner-product search on a GPU without faiss's GPU build: a chunked matrix
    product in torch on ``device``. The scan runs in ``scan_dtype`` (float16 by default on
    CUDA); a half-precision scan's shortlist of 2k+16 is re-scored in float32, so results
    are exact. It keeps a reference to the faiss index whose vectors it copied.
    """

    BLOCK = 1_000_000_000  # similarities at once: 2 GB of float16, 1,000 queries x 1M vectors per product

    def __init__(self, index, device: str, scan_dtype=None):
        import torch

        self.index = index
        self.ntotal, self.d = int(index.ntotal), int(index.d)
        self.vectors = flat_vectors(index)
        self.device = device
        self.dtype = scan_dtype or (torch.float16 if _on_gpu(device) else torch.float32)
        self.scan = torch.from_numpy(self.vectors).to(device, self.dtype)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        rescore = self.dtype != torch.float32
        shortlist = min(self.ntotal, 2 * k + 16) if rescore else min(self.ntotal, k)
        chunk = max(1, int(self.BLOCK // max(self.ntotal, 1)))
        sims_out, rows_out = [], []
        with torch.inference_mode():
            for start in range(0, len(queries), chunk):
                q = queries[start:start + chunk]
                top = torch.topk(torch.from_numpy(q).to(self.device, self.dtype) @ self.scan.T, shortlist, dim=1)
                rows = top.indices.cpu().numpy().astype(np.int64)
                if rescore:
                    sims = np.einsum("nd,nsd->ns", q, self.vectors[rows])
                    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
                    sims, rows = np.take_along_axis(sims, order, axis=1), np.take_along_axis(rows, order, axis=1)
                else:
                    sims = top.values.float().cpu().numpy()
                sims_out.append(sims.astype(np.float32))
                rows_out.append(rows)
        return np.concatenate(sims_out), np.concatenate(rows_out)


def searcher(index, params: dict, device: str = "cpu"):
    """What to search with: faiss itself on a CPU (approximate stores with their search
    parameters set through ParameterSpace); for exact stores on a GPU ``device``, faiss's
    GPU index when faiss has GPUs, else torch.

    On a CPU faiss's own flat scan is as fast as a numpy or torch matrix product
    (measured on 2 cores with 2k-36k x 384 vectors and 1-2,048 queries: within 0.7-1.5x
    either way, benchmarks/README.md) and needs no torch on the query path."""
    import faiss

    settings = search_parameters(params)
    if params["type"] != "flat":
        _set_parameters(index, settings)
        return index
    if not _on_gpu(device):
        return index
    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        return faiss.index_cpu_to_all_gpus(index)
    return TorchExactSearch(index, device)


def load(path: Path, params: dict, device: str = "cpu"):
    """Read an index (memory-mapped where faiss allows) and return its searcher for ``device``."""
    import faiss

    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        index = faiss.read_index(str(path))
    return searcher(index, params, device)


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` similarities and row numbers; rows are -1 where fewer than k exist.

    Where the store keeps float32 vectors on the CPU, ``k + RESCORE_MARGIN`` candidates are
    re-scored exactly (:func:`exact.rescore`), so a query gets the same neighbours and
    similarities whatever batch it is searched in."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = max(1, min(k, index.ntotal)) if index.ntotal else 0
    if k == 0 or len(queries) == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    vectors = _exact_vectors(index)
    if vectors is None:
        return index.search(queries, k)
    _, rows = index.search(queries, min(index.ntotal, k + RESCORE_MARGIN))
    return exact.rescore(queries, vectors, rows, k)


def _exact_vectors(index) -> np.ndarray | None:
    """The float32 vectors behind a CPU store whose results are re-scored exactly (flat and
    HNSW-over-flat stores); None for quantised or GPU stores, returned as searched."""
    import faiss

    if isinstance(index, TorchExactSearch):
        return None if _on_gpu(index.device) else index.vectors
    if isinstance(index, faiss.IndexFlat):
        return flat_vectors(index)
    if isinstance(index, faiss.IndexHNSW):
        storage = faiss.downcast_index(index.storage)
        return flat_vectors(storage) if isinstance(storage, faiss.IndexFlat) else None
    return None


def stored_vectors(searcher) -> np.ndarray:
    """The vectors a searcher holds, in store order (the catalog queried as itself, for
    leave-one-out training)."""
    import faiss

    if isinstance(searcher, TorchExactSearch):
        return searcher.vectors
    if isinstance(searcher, faiss.IndexFlat):
        return flat_vectors(searcher)
    index = searcher
    if type(index).__name__.startswith("Gpu") or type(index).__name__ == "IndexReplicas":
        index = faiss.index_gpu_to_cpu(index)
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    return index.reconstruct_n(0, index.ntotal)
