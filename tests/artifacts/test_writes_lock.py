"""artifacts/writes.py: one writer at a time. A second writer of the same name stops at
once with a one-line error naming the first one's PID; writers inside a folder share its
lock, which a replacement of the folder needs alone; locks are nested within a process
and their files removed when released."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from thing_folders import contents, hidden, make_folder

from retrieval_tagger import artifacts
from retrieval_tagger.errors import ArtifactLockedError

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from retrieval_tagger import artifacts
with artifacts.writer_lock(sys.argv[1], shared=sys.argv[2] == "shared"):
    print("holding", flush=True)
    time.sleep(60)
"""


@pytest.fixture()
def holder(tmp_path):
    """Start a process that holds the lock of a path (exclusive or shared) until killed."""
    procs = []

    def start(target: Path, mode: str = "exclusive") -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), mode], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "holding"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=30)


def test_a_second_writer_gets_one_line_naming_the_first(tmp_path, holder):
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"first"})
    proc = holder(target)
    with pytest.raises(ArtifactLockedError, match=f"another rtag process \\(PID {proc.pid}\\) is writing {target}: wait for it to finish") as caught:
        make_folder(target, {"a.bin": b"second"})
    assert "\n" not in str(caught.value)
    with pytest.raises(ArtifactLockedError, match=f"PID {proc.pid}"):
        with artifacts.atomic_path(target):  # a file written under the same name
            pass
    assert contents(target) == {"a.bin": b"first"}
    proc.kill()
    proc.wait(timeout=30)
    make_folder(target, {"a.bin": b"third"})  # the lock dies with its holder
    assert contents(target) == {"a.bin": b"third"} and hidden(tmp_path) == []
    assert not artifacts.lock_path(target).exists()


def test_writers_inside_a_folder_share_its_lock_and_keep_a_replacement_out(tmp_path, holder):
    index = tmp_path / "index"
    make_folder(index, {"a.bin": b"v1"})
    inside = holder(index, "shared")  # e.g. `rtag vocab add` writing into the index
    with artifacts.writer_lock(index, shared=True):  # another writer inside: fine
        pass
    with pytest.raises(ArtifactLockedError, match=f"PID {inside.pid}\\) is writing into {index}"):
        make_folder(index, {"a.bin": b"v2"})  # a rebuild waits for them
    inside.kill()
    inside.wait(timeout=30)
    make_folder(index, {"a.bin": b"v2"})
    assert contents(index) == {"a.bin": b"v2"}


def test_a_replacement_keeps_writers_out_of_the_folder(tmp_path, holder):
    index = tmp_path / "index"
    rebuild = holder(index)
    with pytest.raises(ArtifactLockedError, match=f"PID {rebuild.pid}\\) is replacing {index}"):
        with artifacts.writer_lock(index, shared=True):
            pass


def test_locks_nest_within_a_process_and_their_files_go_when_released(tmp_path):
    target = tmp_path / "shop"
    with artifacts.writer_lock(target):
        assert artifacts.lock_path(target).read_text() == f"{os.getpid()}\n"
        make_folder(target, {"a.bin": b"x"})  # write_folder takes the lock this process holds
        with artifacts.writer_lock(target):
            pass
        assert artifacts.lock_path(target).exists()
    assert not artifacts.lock_path(target).exists() and hidden(tmp_path) == []
    with artifacts.writer_lock(target, shared=True):
        with pytest.raises(ArtifactLockedError, match="being written into by this process"):
            make_folder(target, {"a.bin": b"y"})


def test_a_cache_fill_takes_no_lock(tmp_path, holder):
    """Caches are filled by whichever process needs them ("keep": the first one wins)."""
    target = tmp_path / "export"
    holder(target)
    make_folder(target, {"model.onnx": b"x"}, existing="keep")
    assert contents(target) == {"model.onnx": b"x"}


def test_two_concurrent_index_builds_one_stops_with_the_others_pid(tmp_path, holder, catalog_csv, encoders):
    """The tester's case: two `rtag index --force` of one name; the second stops at once."""
    from retrieval_tagger.build import BuildOptions, build_index

    out = tmp_path / "shop"
    first = holder(out)
    with pytest.raises(ArtifactLockedError, match=f"PID {first.pid}\\) is writing {out}"):
        build_index(catalog_csv, out, options=BuildOptions(force=True), encoders=encoders)
    assert not out.exists()
