"""artifacts/writes.py: atomic files and folders (also when the writer is killed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from thing_folders import THING, ThingError, contents, dead_pid, hidden, make_folder

from retrieval_tagger import artifacts

ROOT = Path(__file__).resolve().parents[2]


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
