"""artifacts/records.py: a manifest's seal notices any change to it, old manifests without
one still read, and a file's hash is remembered only while it is settled."""

from __future__ import annotations

import hashlib
import json

import pytest
from thing_folders import THING, ThingError, make_folder

from retrieval_tagger import artifacts
from retrieval_tagger.artifacts import records


def test_a_written_manifest_is_sealed_and_any_change_is_refused(tmp_path):
    folder = tmp_path / "thing"
    written = make_folder(folder, {"a.bin": b"abc"})
    assert written[artifacts.SEAL] == records.seal_of(written)
    path = folder / "manifest.json"
    text = path.read_text()
    assert artifacts.read_manifest(folder, THING) == written
    path.write_text(text.replace('"note": "x"', '"note": "y"'))  # valid JSON, one value changed
    with pytest.raises(ThingError, match=r"manifest.json is corrupt or was edited \(its content does not match its seal\).*make it again"):
        artifacts.read_manifest(folder, THING)
    path.write_text(json.dumps(json.loads(text)))  # same content, other whitespace: still sealed
    assert artifacts.read_manifest(folder, THING) == written


def test_a_manifest_without_a_seal_is_read_as_written_before_seals(tmp_path):
    folder = tmp_path / "thing"
    make_folder(folder, {"a.bin": b"abc"})
    path = folder / "manifest.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k != artifacts.SEAL}
    path.write_text(json.dumps(old))
    assert artifacts.read_manifest(folder, THING, verify="sha256") == old
    path.write_text(json.dumps(artifacts.sealed(dict(old, note="resealed"))))
    assert artifacts.read_manifest(folder, THING)["note"] == "resealed"


@pytest.mark.parametrize("files", [{"../escape.bin": {"bytes": 1, "sha256": "0"}}, {"/etc/passwd": {"bytes": 1, "sha256": "0"}},
                                   {"a.bin": "not a record"}, ["a.bin"]])
def test_a_file_list_that_leaves_the_folder_or_is_malformed_is_refused(tmp_path, files):
    folder = tmp_path / "thing"
    make_folder(folder, {"a.bin": b"abc"})
    path = folder / "manifest.json"
    path.write_text(json.dumps(artifacts.sealed({**json.loads(path.read_text()), "files": files})))
    with pytest.raises(ThingError, match="file list is malformed"):
        artifacts.read_manifest(folder, THING)


def test_a_file_changed_within_its_timestamps_granularity_is_hashed_again(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"one")
    first = artifacts.sha256_file(path)
    path.write_bytes(b"two")  # same size, and likely the same mtime
    assert artifacts.sha256_file(path) == hashlib.sha256(b"two").hexdigest() != first


def test_a_settled_file_is_hashed_once_per_process(tmp_path, monkeypatch):
    monkeypatch.setattr(records, "_SETTLED_S", -1.0)  # every file counts as settled
    calls, real = [], records.hashlib.sha256
    monkeypatch.setattr(records.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    path = tmp_path / "a.bin"
    path.write_bytes(b"one")
    assert artifacts.sha256_file(path) == artifacts.sha256_file(path) == real(b"one").hexdigest()
    assert len(calls) == 1
    path.write_bytes(b"three")  # changed: its size and times differ
    assert artifacts.sha256_file(path) == real(b"three").hexdigest() and len(calls) == 2
