"""The cache of ONNX exports: a folder per model and format, written once, found again
while intact, written again when damaged or of another version; its CPU sessions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval_tagger import artifacts
from retrieval_tagger.encoders.onnx import cache as onnx_cache

FMT = "rtag-onnx-test"


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RTAG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def identity_model(folder: Path) -> dict:
    """Write a one-node ONNX graph (y = x) as the export, the way exporters do."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(folder / onnx_cache.MODEL_FILE))
    return {"source_checksum": "abc"}


def test_the_cache_lives_in_the_environments_folder_or_the_users(monkeypatch, tmp_path):
    monkeypatch.setenv("RTAG_CACHE_DIR", str(tmp_path))
    assert onnx_cache.cache_root() == tmp_path
    monkeypatch.delenv("RTAG_CACHE_DIR")
    assert onnx_cache.cache_root() == Path.home() / ".cache" / "retrieval_tagger"


def test_an_export_is_written_once_and_found_again(cache):
    folder, manifest = onnx_cache.cached("thing", "key", FMT, 1, identity_model, "a test graph")
    assert folder == cache / "thing" / "key-v1"
    assert manifest["format"] == FMT and manifest["source_checksum"] == "abc"
    assert manifest["files"][onnx_cache.MODEL_FILE]["sha256"] == artifacts.sha256_file(folder / onnx_cache.MODEL_FILE)

    def no_write(folder):
        raise AssertionError("written again although the cache holds it")

    assert onnx_cache.cached("thing", "key", FMT, 1, no_write, "a test graph") == (folder, manifest)
    assert onnx_cache.find("thing", "key", FMT, 1) == (folder, manifest)
    assert onnx_cache.find("thing", "other-key", FMT, 1) is None
    assert onnx_cache.find("thing", "key", FMT, 2) is None  # another version: another folder
    assert onnx_cache.read_manifest(folder, "rtag-onnx-other", 1) is None  # another format


def test_a_damaged_export_is_not_found_and_is_written_again(cache):
    folder, _ = onnx_cache.cached("thing", "key", FMT, 1, identity_model, "a test graph")
    with open(folder / onnx_cache.MODEL_FILE, "r+b") as fh:  # same size, other bytes
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 0xFF]))
    assert onnx_cache.find("thing", "key", FMT, 1) is None
    writes = []
    again, _ = onnx_cache.cached("thing", "key", FMT, 1, lambda f: writes.append(1) or identity_model(f), "a test graph")
    assert writes == [1] and onnx_cache.find("thing", "key", FMT, 1) is not None


def test_exports_cached_before_the_shared_header_still_count(cache):
    folder = cache / "thing" / "key-v1"
    folder.mkdir(parents=True)
    identity_model(folder)
    sha = artifacts.sha256_file(folder / onnx_cache.MODEL_FILE)
    artifacts.write_json(folder / artifacts.MANIFEST, {"format": FMT, "format_version": 1, "sha256": {onnx_cache.MODEL_FILE: sha}})
    assert onnx_cache.read_manifest(folder, FMT, 1)["sha256"] == {onnx_cache.MODEL_FILE: sha}
    artifacts.write_json(folder / artifacts.MANIFEST, {"format": FMT, "format_version": 1, "sha256": {onnx_cache.MODEL_FILE: "0" * 64}})
    assert onnx_cache.read_manifest(folder, FMT, 1) is None


def test_a_cpu_session_runs_the_export_with_the_threads_asked_for(cache):
    folder, _ = onnx_cache.cached("thing", "key", FMT, 1, identity_model, "a test graph")
    session = onnx_cache.cpu_session(folder, threads=1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.get_session_options().intra_op_num_threads == 1
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], x)
    assert set(onnx_cache.versions()) == {"torch", "onnx", "onnxruntime"}
