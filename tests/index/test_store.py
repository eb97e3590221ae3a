"""FAISS stores: approximate search checked against exact search on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.errors import RtagError
from retrieval_tagger.index import store


def unit_rows(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    vectors = unit_rows(rng.standard_normal((2000, 32)))
    picked = rng.choice(len(vectors), size=200, replace=False)
    queries = unit_rows(vectors[picked] + 0.05 * rng.standard_normal((200, 32)))
    return vectors, queries, picked


@pytest.fixture(scope="module")
def built(data):
    """``store.build`` of the 2,000 vectors by index type, each built once: treat them as
    read-only (save and load one to change its search parameters)."""
    stores = {}

    def get(kind: str):
        if kind not in stores:
            stores[kind] = store.build(data[0], kind)
        return stores[kind]

    return get


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivf-sq8"])
def test_approximate_top1_matches_exact(data, built, tmp_path, kind):
    vectors, queries, picked = data
    flat, _ = built("flat")
    _, exact_rows = store.search(flat, queries, 1)
    assert np.array_equal(exact_rows[:, 0], picked)  # the perturbed copy finds its original

    index, params = built(kind)
    assert params["type"] == kind
    store.save(index, tmp_path / f"{kind}.faiss")
    loaded = store.load(tmp_path / f"{kind}.faiss", params)
    sims, rows = store.search(loaded, queries, 10)

    agreement = np.mean(rows[:, 0] == exact_rows[:, 0])
    assert agreement >= 0.99, f"{kind} top-1 agrees with exact search on {agreement:.1%} of queries"
    assert np.all(np.diff(sims, axis=1) <= 1e-6)  # best first


def test_load_applies_the_search_parameters(data, built, tmp_path):
    vectors, _, _ = data
    hnsw, hnsw_params = built("hnsw")
    ivf, ivf_params = built("ivf")
    store.save(hnsw, tmp_path / "h.faiss")
    store.save(ivf, tmp_path / "i.faiss")
    assert store.load(tmp_path / "h.faiss", hnsw_params).hnsw.efSearch == store.HNSW_EF_SEARCH
    assert store.load(tmp_path / "h.faiss", {**hnsw_params, "search": {"efSearch": 40}}).hnsw.efSearch == 40
    assert store.load(tmp_path / "i.faiss", ivf_params).nprobe == store.IVF_NPROBE
    assert store.load(tmp_path / "i.faiss", {**ivf_params, "search": {"nprobe": 3}}).nprobe == 3


def test_manifest_entries_record_factory_strings_and_parameters(data, built):
    vectors, _, _ = data
    nlist = store.n_lists(len(vectors), len(vectors))
    assert built("flat")[1] == {"type": "flat", "factory": "Flat"}
    assert built("hnsw")[1] == {"type": "hnsw", "factory": "HNSW32,Flat", "build": {"efConstruction": 80}, "search": {"efSearch": 96}}
    assert built("ivf")[1] == {"type": "ivf", "factory": f"IVF{nlist},Flat", "search": {"nprobe": 16}}
    assert built("ivf-sq8")[1] == {"type": "ivf-sq8", "factory": f"IVF{nlist},SQ8", "search": {"nprobe": 16}}


def hand_built(vectors: np.ndarray, kind: str):
    """The stores as rtag built them before factory strings, class by class."""
    import faiss

    n, dim = vectors.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
    else:
        train = vectors[np.sort(np.random.default_rng(0).choice(n, min(n, store.TRAIN_SAMPLE), replace=False))]
        quantizer = faiss.IndexFlatIP(dim)
        nlist = store.n_lists(n, len(train))
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantizer.this.disown()
        index.train(train)
    index.add(vectors)
    return index


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf", "ivf-sq8"])
def test_factory_strings_build_the_same_index_as_before(data, built, kind):
    import faiss

    vectors, _, _ = data
    index, _ = built(kind)
    assert np.array_equal(faiss.serialize_index(index), faiss.serialize_index(hand_built(vectors, kind)))


@pytest.mark.parametrize("legacy, knob, value", [
    ({"type": "hnsw", "M": 32, "efConstruction": 80, "efSearch": 40}, "efSearch", 40),
    ({"type": "ivf", "nlist": 32, "nprobe": 3}, "nprobe", 3),
    ({"type": "ivf-sq8", "nlist": 32}, "nprobe", store.IVF_NPROBE),
    ({"type": "flat"}, None, None),
])
def test_manifests_written_before_factory_strings_still_search_the_same(data, built, tmp_path, legacy, knob, value):
    vectors, queries, _ = data
    index, params = built(legacy["type"])
    store.save(index, tmp_path / "x.faiss")
    assert store.search_parameters(legacy) == ({knob: value} if knob else {})
    old = store.load(tmp_path / "x.faiss", legacy)
    new = store.load(tmp_path / "x.faiss", {**params, "search": {knob: value}} if knob else params)
    if knob:
        assert (old.hnsw.efSearch if knob == "efSearch" else old.nprobe) == value
    for got, expected in zip(store.search(old, queries, 10), store.search(new, queries, 10)):
        np.testing.assert_array_equal(got, expected)


def test_an_unknown_store_type_in_a_manifest_is_refused(data, tmp_path):
    from retrieval_tagger.errors import IndexFormatError

    vectors, _, _ = data
    index, _ = store.build(vectors[:50], "flat")
    store.save(index, tmp_path / "x.faiss")
    with pytest.raises(IndexFormatError, match="unknown store type 'annoy'.*rebuild"):
        store.load(tmp_path / "x.faiss", {"type": "annoy"})


def test_flat_search_is_exact_inner_product(data):
    vectors, queries, _ = data
    index, params = store.build(vectors[:100], "flat")
    sims, rows = store.search(index, queries[:5], 3)
    brute = queries[:5] @ vectors[:100].T
    np.testing.assert_array_equal(rows, np.argsort(-brute, axis=1)[:, :3])
    np.testing.assert_allclose(sims, np.sort(brute, axis=1)[:, ::-1][:, :3], rtol=1e-5)


def test_search_asks_for_no_more_than_the_store_holds(data):
    vectors, queries, _ = data
    index, _ = store.build(vectors[:3], "flat")
    sims, rows = store.search(index, queries[:2], 10)
    assert rows.shape == (2, 3)
    assert sorted(rows[0]) == [0, 1, 2]


def test_search_of_an_empty_store(data):
    _, queries, _ = data
    index, params = store.build(np.zeros((0, 32), np.float32), "hnsw")
    assert params["type"] == "flat"  # nothing to approximate
    sims, rows = store.search(index, queries[:2], 5)
    assert sims.shape == rows.shape == (2, 0)


@pytest.mark.parametrize("kind", ["ivf", "ivf-sq8"])
def test_ivf_on_a_handful_of_vectors(data, kind):
    vectors, _, _ = data
    index, params = store.build(vectors[:10], kind)
    assert params["factory"].startswith("IVF1,")
    _, rows = store.search(index, vectors[:10], 1)
    assert list(rows[:, 0]) == list(range(10))


def test_n_lists_is_a_power_of_two_near_4_sqrt_n_with_39_training_vectors_each():
    assert store.n_lists(1_000_000, 200_000) == 4096
    assert store.n_lists(10_000_000, 200_000) == 4096  # capped by the training sample
    assert store.n_lists(100_000, 100_000) == 1024
    assert store.n_lists(2000, 2000) == 32
    assert store.n_lists(10, 10) == 1
    for n in (50, 1000, 12345, 10**6):
        lists = store.n_lists(n, n)
        assert lists & (lists - 1) == 0 and lists * 39 <= max(n, 39)


def test_sq8_codes_take_a_quarter_of_float32(data, built, tmp_path):
    vectors, _, _ = data
    sizes = {}
    for kind in ("flat", "ivf-sq8"):
        index, _ = built(kind)
        store.save(index, tmp_path / f"{kind}.faiss")
        sizes[kind] = (tmp_path / f"{kind}.faiss").stat().st_size
    assert sizes["ivf-sq8"] < 0.5 * sizes["flat"]


def test_choose_type():
    assert store.choose_type(10) == "flat"
    assert store.choose_type(store.EXACT_LIMIT) == "hnsw"
    assert store.choose_type(store.EXACT_LIMIT, device="cuda") == "flat"
    assert store.choose_type(store.EXACT_LIMIT_GPU, device="cuda:0") == "hnsw"
    assert store.choose_type(store.COMPACT_LIMIT) == "ivf-sq8"
    assert store.choose_type(10, "ivf") == "ivf"
    with pytest.raises(RtagError, match="unknown index type 'annoy'.*auto, flat, hnsw, ivf, ivf-sq8"):
        store.choose_type(10, "annoy")


def test_exact_stores_on_a_cpu_are_searched_by_faiss_and_read_in_place():
    rng = np.random.default_rng(3)
    base = unit_rows(rng.standard_normal((3000, 48)).astype(np.float32))
    index, params = store.build(base, "flat")
    exact = store.searcher(index, params, "cpu")
    assert exact is index
    vectors = store.stored_vectors(exact)
    np.testing.assert_array_equal(vectors, base)
    assert not vectors.flags.owndata  # a view of the faiss index's own memory, not a copy


def test_exact_search_on_a_cpu_does_not_import_torch(tmp_path):
    import subprocess
    import sys

    probe = ("import sys, numpy as np; from retrieval_tagger.index import store; "
             "v = np.eye(8, dtype=np.float32); index, params = store.build(v, 'flat'); "
             "s = store.searcher(index, params, 'cpu'); assert (store.search(s, v, 1)[1][:, 0] == np.arange(8)).all(); "
             "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_half_precision_torch_scan_with_float32_rescoring_is_exact(dtype):
    import torch

    rng = np.random.default_rng(5)
    base = unit_rows(rng.standard_normal((4000, 64)).astype(np.float32))
    # near-duplicates make the top ranks differ only in the last bits
    base[1::2] = unit_rows(base[::2] + 1e-3 * rng.standard_normal(base[::2].shape).astype(np.float32))
    queries = unit_rows(base[:100] + 0.05 * rng.standard_normal((100, 64)).astype(np.float32))
    index, _ = store.build(base, "flat")
    faiss_sims, faiss_rows = index.search(queries, 10)
    exact = store.TorchExactSearch(index, "cpu", scan_dtype=getattr(torch, dtype))
    sims, rows = exact.search(queries, 10)
    np.testing.assert_array_equal(rows, faiss_rows)
    np.testing.assert_allclose(sims, faiss_sims, rtol=1e-5, atol=1e-5)


def test_exact_search_handles_k_above_ntotal():
    rng = np.random.default_rng(4)
    base = unit_rows(rng.standard_normal((5, 8)).astype(np.float32))
    index, params = store.build(base, "flat")
    sims, rows = store.search(store.searcher(index, params), base, 50)  # k is capped at the 5 vectors there are
    assert rows.shape == (5, 5) and (rows[:, 0] == np.arange(5)).all()
    np.testing.assert_allclose(sims[:, 0], 1.0, rtol=1e-5)
