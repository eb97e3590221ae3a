"""artifacts/snapshot.py: a folder opened as one generation. What it read stays readable
after the folder is replaced and deleted; a folder a writer has set aside is read from
there; sizes are checked at open and contents when read, naming the file and the fix."""

from __future__ import annotations

import os

import pytest
from thing_folders import THING, ThingError, dead_pid, make_folder

from retrieval_tagger import artifacts


def test_what_was_opened_stays_readable_after_a_replacement(tmp_path):
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"old", "sub/b.bin": b"old b"})
    snap = artifacts.open_snapshot(target, THING)
    first = snap.generation
    make_folder(target, {"a.bin": b"new!"})  # renamed aside, new one in, old one deleted
    assert not snap.is_current()
    assert snap.read("a.bin") == b"old" and snap.read("sub/b.bin") == b"old b"
    assert snap.read("sub/b.bin", 3) == b"old"
    assert open(snap.path("a.bin"), "rb").read() == b"old"  # a path libraries can open
    fresh = artifacts.open_snapshot(target, THING)
    assert fresh.is_current() and fresh.read("a.bin") == b"new!" and fresh.generation != first


def test_a_folder_set_aside_by_a_writer_is_read_from_there(tmp_path):
    """Between the two renames of a replacement (or after a writer was killed there) the
    folder is missing under its name: readers find it where it was set aside."""
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"old"})
    os.replace(target, artifacts.writes.aside_of(target, dead_pid()))
    snap = artifacts.open_snapshot(target, THING)
    assert snap.read("a.bin") == b"old" and snap.folder == target and snap.is_current()
    make_folder(target, {"a.bin": b"new"})  # the next writer puts it back, then replaces it
    assert not snap.is_current() and snap.read("a.bin") == b"old"
    assert artifacts.open_snapshot(target, THING).read("a.bin") == b"new"


def test_a_missing_folder_raises_what_the_reader_asks(tmp_path):
    with pytest.raises(ThingError, match="does not exist.*make it again"):
        artifacts.open_snapshot(tmp_path / "nope", THING)
    with pytest.raises(KeyError):
        artifacts.open_snapshot(tmp_path / "nope", THING, missing=KeyError("custom"))


def test_sizes_are_checked_at_open_and_contents_when_read(tmp_path):
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"abc", "b.bin": b"def"})
    (target / "a.bin").write_bytes(b"abcd")
    with pytest.raises(ThingError, match="shop is corrupt or changed: a.bin has 4 bytes, the manifest says 3; make it again"):
        artifacts.open_snapshot(target, THING)
    (target / "a.bin").write_bytes(b"abX")
    snap = artifacts.open_snapshot(target, THING)  # same size: opens
    assert snap.read("b.bin") == b"def"
    with pytest.raises(ThingError, match="a.bin does not match its sha256"):
        snap.read("a.bin")
    with pytest.raises(ThingError, match="a.bin does not match its sha256"):
        snap.path("a.bin")
    assert artifacts.open_snapshot(target, THING, verify="size").read("a.bin") == b"abX"  # content checks off
    (target / "b.bin").unlink()
    with pytest.raises(ThingError, match="shop is incomplete: b.bin is missing"):
        artifacts.open_snapshot(target, THING)


def test_subfolders_are_opened_from_the_same_generation(tmp_path):
    target = tmp_path / "index"
    make_folder(target, {"a.bin": b"index v1"})
    make_folder(target / "parts" / "one", {"p.bin": b"part v1"})
    make_folder(target / "parts" / "two", {"p.bin": b"part two"})
    snap = artifacts.open_snapshot(target, THING)
    assert snap.subfolders("parts") == ["one", "two"] and snap.subfolders("nothing") == []
    one = snap.child("parts/one", THING)
    assert snap.child("parts/none", THING) is None and snap.child("a.bin", THING) is None
    make_folder(target / "parts" / "one", {"p.bin": b"part v2"})
    assert one.read("p.bin") == b"part v1"
    assert snap.child("parts/one", THING).read("p.bin") == b"part v2"  # opened now: what is there now
    (target / "parts" / "two" / "manifest.json").write_text("{")
    with pytest.raises(ThingError, match="two/manifest.json is corrupt"):
        snap.child("parts/two", THING)


def test_files_larger_than_one_read_block_are_read_whole(tmp_path):
    data = os.urandom(1 << 20) * 17 + b"tail"  # past the 16 MiB block a read asks for at a time
    make_folder(tmp_path / "big", {"a.bin": data})
    snap = artifacts.open_snapshot(tmp_path / "big", THING)
    assert snap.read("a.bin") == data and snap.read("a.bin", (1 << 24) + 3) == data[:(1 << 24) + 3]
