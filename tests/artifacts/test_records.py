"""artifacts/records.py: manifest header, file records and their checks, manifests read back
with the fix for each problem."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone

import pytest
from thing_folders import THING, ThingError, edit, make_folder

from retrieval_tagger import __version__, artifacts

# header, records, verification, reading


def test_header_names_the_format_rtag_and_when():
    head = artifacts.header(THING)
    assert list(head) == ["format", "format_version", "rtag_version", "created"]
    assert (head["format"], head["format_version"], head["rtag_version"]) == ("rtag-thing", 3, __version__)
    created = datetime.fromisoformat(head["created"])
    assert created.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 60
    assert artifacts.header(THING, versions={"lightgbm": "4.0"})["versions"] == {"lightgbm": "4.0"}


def test_sha256_of_a_file_larger_than_one_read(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "big").write_bytes(data)
    assert artifacts.sha256_file(tmp_path / "big") == hashlib.sha256(data).hexdigest()


def test_record_files_lists_sizes_and_hashes_but_not_the_manifest_or_hidden_files(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"abc")
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / ".a.npy.tmp-1").write_bytes(b"partial")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "vocab.txt").write_bytes(b"hello")
    assert artifacts.record_files(tmp_path) == {"a.npy": {"bytes": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}}
    assert set(artifacts.record_files(tmp_path, recursive=True)) == {"a.npy", "text/vocab.txt"}


@pytest.mark.parametrize("damage, level, kind, text", [
    (lambda f: f.unlink(), "none", "missing", "a.bin is missing"),
    (lambda f: f.write_bytes(b"0123"), "size", "size", "a.bin has 4 bytes, the manifest says 6"),
    (lambda f: f.write_bytes(b"01234X"), "sha256", "sha256", "a.bin does not match its sha256 in the manifest"),
])
def test_verify_says_which_file_and_what_differs(tmp_path, damage, level, kind, text):
    file = tmp_path / "a.bin"
    file.write_bytes(b"012345")
    files = artifacts.record_files(tmp_path)
    assert artifacts.verify_files(tmp_path, files, "sha256") is None
    damage(file)
    problem = artifacts.verify_files(tmp_path, files, level)
    assert (problem.name, problem.kind, str(problem)) == ("a.bin", kind, text)


def test_verify_levels_check_only_what_they_name(tmp_path):
    file = tmp_path / "a.bin"
    file.write_bytes(b"012345")
    files = artifacts.record_files(tmp_path)
    file.write_bytes(b"0123")  # another size
    assert artifacts.verify_files(tmp_path, files, "none") is None
    file.write_bytes(b"01234X")  # same size, other bytes
    assert artifacts.verify_files(tmp_path, files, "size") is None
    with pytest.raises(ValueError, match="none, size, sha256"):
        artifacts.verify_files(tmp_path, files, "md5")


def test_read_manifest_returns_what_was_written(tmp_path):
    written = make_folder(tmp_path / "thing", {"a.bin": b"abc", "sub/b.bin": b"de"})
    assert artifacts.read_manifest(tmp_path / "thing", THING, verify="sha256") == written
    assert set(written["files"]) == {"a.bin", "sub/b.bin"}


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "manifest.json").unlink(), r"thing is not a thing folder \(no manifest.json\)"),
    (lambda f: (f / "manifest.json").write_text("{oops"), r"manifest.json is corrupt"),
    (lambda f: (f / "manifest.json").write_text("[1]"), r"manifest.json is corrupt \(not a JSON object\)"),
    (lambda f: edit(f, format="rtag-other"), r"is not a thing manifest \(its format is 'rtag-other', not 'rtag-thing'\)"),
    (lambda f: edit(f, format_version=9), r"thing holds a thing in format version 9; this rtag .* reads version 3"),
    (lambda f: (f / "a.bin").unlink(), r"thing is incomplete: a.bin is missing"),
    (lambda f: (f / "a.bin").write_bytes(b"abcd"), r"thing is corrupt or changed: a.bin has 4 bytes, the manifest says 3"),
    (lambda f: (f / "a.bin").write_bytes(b"abX"), r"thing is corrupt or changed: a.bin does not match its sha256"),
])
def test_read_manifest_errors_name_the_folder_and_the_fix(tmp_path, damage, message):
    folder = tmp_path / "thing"
    make_folder(folder, {"a.bin": b"abc"})
    damage(folder)
    with pytest.raises(ThingError, match=f"{message}.*make it again with `rtag thing --force`"):
        artifacts.read_manifest(folder, THING, verify="sha256")
    with pytest.raises(ThingError, match="run `rtag thing --rebuild NAME`"):
        artifacts.read_manifest(folder, THING, verify="sha256", fix="run `rtag thing --rebuild NAME`")
