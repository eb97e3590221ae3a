"""artifacts.py: manifest header, file records and their checks, atomic files and folders
(also when the writer is killed), and the id-hash sampler against the formulas it replaced."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from retrieval_tagger import __version__, artifacts
from retrieval_tagger.errors import RtagError


class ThingError(RtagError):
    pass


THING = artifacts.Format("rtag-thing", 3, "a thing", ThingError, "make it again with `rtag thing --force`")
ROOT = Path(__file__).resolve().parents[1]


def make_folder(target: Path, files: dict[str, bytes], **write_args) -> dict:
    with artifacts.write_folder(target, **write_args) as tmp:
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        manifest = {**artifacts.header(THING), "note": "x"}
        artifacts.write_manifest(tmp, manifest, recursive=True)
    return manifest


def contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


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


def edit(folder: Path, **changes) -> None:
    path = folder / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


# atomic files


def test_write_json_replaces_a_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    artifacts.write_json(path, {"a": 1})
    artifacts.write_json(path, {"b": "é"}, indent=1)
    assert json.loads(path.read_text(encoding="utf-8")) == {"b": "é"}
    assert hidden(tmp_path) == []


def test_a_failed_file_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with artifacts.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old" and hidden(tmp_path) == []


def test_a_file_write_clears_the_temporary_of_a_dead_writer(tmp_path):
    path = tmp_path / "out.txt"
    stale = tmp_path / f".out.txt.tmp-{dead_pid()}"
    stale.write_text("partial")
    alive = tmp_path / f".out.txt.tmp-{os.getppid()}"  # a writer that still runs keeps its own
    alive.write_text("in progress")
    artifacts.write_json(path, [1])
    assert hidden(tmp_path) == [alive.name]


# atomic folders


def test_write_folder_creates_then_replaces(tmp_path):
    target = tmp_path / "idx" / "shop"
    make_folder(target, {"a.bin": b"old", "b.bin": b"gone later"})
    make_folder(target, {"a.bin": b"new"})
    assert contents(target) == {"a.bin": b"new"}
    assert artifacts.read_manifest(target, THING)["files"]["a.bin"]["bytes"] == 3
    assert hidden(target.parent) == []


def test_an_error_inside_the_block_leaves_the_old_folder_and_no_temporary(tmp_path):
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"old"})
    with pytest.raises(KeyboardInterrupt):
        with artifacts.write_folder(target) as tmp:
            (tmp / "a.bin").write_bytes(b"half")
            raise KeyboardInterrupt
    assert contents(target) == {"a.bin": b"old"} and hidden(tmp_path) == []


def test_a_folder_without_its_manifest_is_never_put_in_place(tmp_path):
    target = tmp_path / "shop"
    with pytest.raises(RuntimeError, match="must end with write_manifest"):
        with artifacts.write_folder(target) as tmp:
            (tmp / "a.bin").write_bytes(b"x")
    assert not target.exists() and hidden(tmp_path) == []


def test_existing_folder_can_be_kept_or_refused(tmp_path):
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"first"})
    make_folder(target, {"a.bin": b"second"}, existing="keep")
    assert contents(target) == {"a.bin": b"first"}
    with pytest.raises(ThingError, match="appeared"):
        make_folder(target, {"a.bin": b"third"}, existing=ThingError("a thing appeared"))
    assert contents(target) == {"a.bin": b"first"} and hidden(tmp_path) == []
    with pytest.raises(ValueError, match="existing must be"):
        make_folder(target, {}, existing="merge")


def test_a_failed_rename_into_place_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"old"})
    real_replace, calls = os.replace, []

    def failing_second(src, dst):
        calls.append(Path(src).name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(artifacts.os, "replace", failing_second)
    with pytest.raises(OSError, match="disk full"):
        make_folder(target, {"a.bin": b"new"})
    monkeypatch.undo()
    assert calls[:2] == ["shop", f".shop.tmp-{os.getpid()}"]  # old aside, then new in (failed)
    assert contents(target) == {"a.bin": b"old"} and hidden(tmp_path) == []


# killed mid-write: the target is old or absent, never partial; the next write cleans up

WRITER = """
import os, sys, time
from pathlib import Path
from retrieval_tagger import artifacts
target, stage = Path(sys.argv[1]), sys.argv[2]
fmt = artifacts.Format("rtag-thing", 3, "a thing", RuntimeError, "")
if stage == "swap":
    real_replace = os.replace
    def slow_replace(src, dst):
        real_replace(src, dst)
        print("renamed", flush=True)
        time.sleep(60)
    os.replace = slow_replace
with artifacts.write_folder(target) as tmp:
    with open(tmp / "a.bin", "wb") as fh:
        fh.write(b"new" * 100_000)
        fh.flush()
        if stage == "fill":
            print("writing", flush=True)
            time.sleep(60)
    artifacts.write_manifest(tmp, artifacts.header(fmt))
"""


def kill_writer(target: Path, stage: str) -> int:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), stage], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert line in ("writing", "renamed"), f"the writer did not get to its {stage} stage"
    return proc.pid


@pytest.mark.parametrize("stage", ["fill", "swap"])
@pytest.mark.parametrize("had_old", [True, False])
def test_a_writer_killed_mid_write_leaves_the_old_folder_or_none(tmp_path, stage, had_old):
    target = tmp_path / "shop"
    if had_old:
        make_folder(target, {"a.bin": b"old"})
    pid = kill_writer(target, stage)
    left = hidden(tmp_path)
    if stage == "fill":
        assert left == [f".shop.tmp-{pid}"]  # it did get half-way
        assert contents(target) == {"a.bin": b"old"} if had_old else not target.exists()
    elif had_old:  # killed between its two renames: the old folder is aside, the new one complete
        assert not target.exists() and left == [f".shop.old-{pid}", f".shop.tmp-{pid}"]
    else:  # killed right after its one rename: the new folder is complete
        assert left == [] and contents(target) == {"a.bin": b"new" * 100_000}
    if target.exists():
        artifacts.read_manifest(target, THING, verify="sha256")

    make_folder(target, {"a.bin": b"next"})
    assert contents(target) == {"a.bin": b"next"}
    assert hidden(tmp_path) == []


def test_the_old_folder_of_a_writer_killed_between_its_renames_comes_back(tmp_path):
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"old"})
    kill_writer(target, "swap")
    with pytest.raises(ThingError, match="refused"):  # this write fails, yet the old folder is back
        make_folder(target, {"a.bin": b"next"}, existing=ThingError("refused"))
    assert contents(target) == {"a.bin": b"old"} and hidden(tmp_path) == []


# the id-hash sampler reproduces the samples and splits written before it


def ids_for_sampling() -> list[str]:
    rng = np.random.default_rng(7)
    ids = [f"p{int(n):06d}" for n in rng.integers(0, 10**6, 300)] + ["é-ü-☃", "", "  spaced  ", "p000001", "p000001"]
    rng.shuffle(ids)
    return ids


def old_sample(ids: list[str], size: int | None) -> np.ndarray:
    """build.py _fit and rerank/training.py leave_one_out before artifacts.hash_sample."""
    rows = np.arange(len(ids))
    keys = np.asarray([hashlib.sha1(i.encode("utf-8")).digest()[:8] for i in ids])
    return np.sort(rows[np.argsort(keys, kind="stable")[:size]])


@pytest.mark.parametrize("size", [1, 2, 50, 200, 305, 1000, None])
def test_hash_sample_picks_the_rows_the_old_formula_picked(size):
    ids = ids_for_sampling()
    np.testing.assert_array_equal(artifacts.hash_sample(ids, size), old_sample(ids, size))
    tagged = np.flatnonzero(np.arange(len(ids)) % 3 != 1)  # as build and the reranker call it: on a subset of rows
    subset = [ids[i] for i in tagged]
    np.testing.assert_array_equal(tagged[artifacts.hash_sample(subset, size)], tagged[old_sample(subset, size)])


def test_ties_go_to_the_earlier_row_as_before():
    ids = ["same"] * 100 + ["other"] * 100
    for size in (5, 150):
        np.testing.assert_array_equal(artifacts.hash_sample(ids, size), old_sample(ids, size))


def test_hash_sample_follows_the_ids_not_their_order():
    ids = sorted(set(ids_for_sampling()))
    reordered = ids[::-1]
    chosen = {ids[i] for i in artifacts.hash_sample(ids, 60)}
    assert chosen == {reordered[i] for i in artifacts.hash_sample(reordered, 60)}
    assert chosen != set(ids[:60]) and chosen != set(reordered[:60])


def test_hash_bucket_reproduces_the_reranker_splits_and_the_align_validation_mask():
    from retrieval_tagger.align.pairs import validation_mask
    from retrieval_tagger.rerank.training import split_of

    ids = ids_for_sampling()
    shares = (70, 85)
    old_splits = [int(np.searchsorted(shares, int(hashlib.sha1(("rerank:" + i).encode("utf-8")).hexdigest()[:8], 16) % 100, side="right")) for i in ids]
    assert [split_of(i) for i in ids] == old_splits
    assert set(old_splits) == {0, 1, 2}
    for fraction in (0.05, 0.1, 0.5):
        old_mask = np.asarray([int.from_bytes(hashlib.sha1(i.encode("utf-8")).digest()[:4], "big") % 10_000 for i in ids]) < int(round(fraction * 10_000))
        np.testing.assert_array_equal(validation_mask(ids, fraction), old_mask)
        assert 0 < old_mask.sum() < len(ids)
