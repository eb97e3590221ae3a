"""Every writer, stopped at any step, leaves the old state or the new one whole, and the
next write succeeds and leaves nothing behind.

Each writer (an index build, `vocab add --force`, `vocab remove`, a reranker's save, an
alignment checkpoint, a tag output file, an ONNX export in the cache) runs under a
tracer that counts the steps (lines) of the artifacts code, which does every rename,
removal and flush. At a seeded choice of steps the tracer copies the whole work area as
it stands, which is what a kill -9 at that step leaves on disk (the copy's leftovers are
renamed to a process that no longer runs), and stops the writer. The copy must then load
and give the old or the new answer, and writing again there must give the new answer
with no leftovers. A few trials kill a real index build with SIGKILL at a seeded step.
"""

from __future__ import annotations

import json
import linecache
import os
import re
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from thing_folders import dead_pid
from toy_aligner import FINGERPRINT, Toy
from toy_catalog import (
    COLUMNS,
    FACET_VOCAB,
    TEXT_SPEC,
    VOCAB_QUERIES,
    catalog_rows,
    write_catalog,
    write_file,
)

from retrieval_tagger import artifacts
from retrieval_tagger.artifacts import records
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.errors import VocabError

ROOT = Path(__file__).resolve().parents[2]
# the code that writes (reading, in snapshot.py, runs at times garbage collection picks)
WRITING = (str(Path(artifacts.__file__).with_name("writes.py")), str(Path(artifacts.__file__).with_name("records.py")))
SEED = 2026
OTHER_SPEC = CatalogSpec(facet_cols=["colour"])  # the catalog a rebuild reads: other tags
LEFTOVER = re.compile(r"\.(.+)\.(tmp|old)-(\d+)")


class Crash(BaseException):
    """Stops a writer at the chosen step (not an Exception: no handler may swallow it)."""


@contextmanager
def traced(stop_at: int | None = None, on_stop: Callable[[], None] | None = None):
    """Count the line steps of the artifacts code that writes, in this thread, and the
    steps that rename; at step ``stop_at`` call ``on_stop`` and stop the writer with Crash."""
    count, renames = [0], []

    def local(frame, event, arg):
        if event == "line":
            count[0] += 1
            if count[0] == stop_at:
                on_stop()
                raise Crash
            if "os.replace(" in linecache.getline(frame.f_code.co_filename, frame.f_lineno):
                renames.append(count[0])
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code.co_filename in WRITING else None)
    try:
        yield count, renames
    finally:
        sys.settrace(None)


def as_if_killed(area: Path, copy: Path) -> None:
    """Copy ``area`` as a kill -9 now would leave it: the writer's leftovers belong to a
    process that no longer runs."""
    shutil.copytree(area, copy, symlinks=True)
    gone = dead_pid()
    for path in sorted(copy.rglob(".*"), key=lambda p: -len(p.parts)):
        match = LEFTOVER.fullmatch(path.name)
        if match and int(match.group(3)) == os.getpid():
            path.rename(path.with_name(f".{match.group(1)}.{match.group(2)}-{gone}"))


def leftovers(area: Path) -> list[str]:
    return sorted(p.relative_to(area).as_posix() for p in area.rglob(".*") if LEFTOVER.fullmatch(p.name) or p.name.endswith(".lock"))


@dataclass
class Writer:
    name: str
    setup: Callable[[Path], None]  # the old state in an empty work area
    write: Callable[[Path], None]  # the write under test
    answer: Callable[[Path], object]  # what the state gives (raises if it is not whole)
    trials: int


@pytest.fixture(autouse=True)
def hash_every_time(monkeypatch):
    """No hash is remembered, so that a write takes the same steps every time."""
    monkeypatch.setattr(records, "_hashed", {})
    monkeypatch.setattr(records, "_SETTLED_S", float("inf"))


def run_trials(writer: Writer, tmp_path: Path) -> dict:
    probe = tmp_path / "probe"
    writer.setup(probe)
    old = writer.answer(probe)
    with traced() as (count, renames):
        writer.write(probe)
    new, steps = writer.answer(probe), count[0]
    assert old != new and steps > 10 and renames
    rng = np.random.default_rng(SEED + len(writer.name))
    # seeded steps, the step after each rename (e.g. between the two of a replacement) and
    # the last one (before the clean-up)
    seeded = rng.choice(np.arange(1, steps), writer.trials, replace=False).tolist()
    chosen = sorted({*seeded, *(step + 1 for step in renames if step < steps), steps})
    outcomes = {"old": 0, "new": 0}
    for step in chosen:
        area, crashed = tmp_path / f"at{step}", tmp_path / f"crashed{step}"
        writer.setup(area)
        with pytest.raises(Crash):
            with traced(step, lambda: as_if_killed(area, crashed)):
                writer.write(area)
        found = writer.answer(crashed)
        assert found in (old, new), f"{writer.name} stopped at step {step} of {steps}: neither the old nor the new state"
        outcomes["old" if found == old else "new"] += 1
        writer.write(crashed)
        assert writer.answer(crashed) == new, f"{writer.name}: the write after a stop at step {step} did not give the new state"
        assert leftovers(crashed) == [], f"{writer.name}: left after the next write: {leftovers(crashed)}"
    return {"steps": steps, "renames": len(renames), "trials": len(chosen), **outcomes}


# -- the writers --------------------------------------------------------------------------------


def tagged(folder: Path, encoders, **options) -> str:
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.pipeline import Tagger

    return json.dumps([r.to_dict() for r in Tagger(open_index(folder), *encoders).tag(VOCAB_QUERIES, top_n=4, **options)])


@pytest.fixture(scope="module")
def templates(tmp_path_factory, reranked, encoders):
    """Prepared states to copy: the reranked index with a stored vocabulary "v", and a
    catalog of other tags to rebuild it from."""
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.pipeline import Tagger

    root = tmp_path_factory.mktemp("crash-templates")
    index = root / "index"
    shutil.copytree(reranked[0], index)
    Tagger(open_index(index), *encoders).add_vocab(write_file(root / "v1.txt", FACET_VOCAB), "v")
    write_file(root / "v2.txt", "colour:red\narticle:jeans\n")
    rows = [dict(r, tags="") for r in catalog_rows(root / "images")[:12]]
    write_catalog(root / "other.csv", rows, COLUMNS)
    return root


def with_index(templates: Path):
    def setup(area: Path) -> None:
        area.mkdir()
        shutil.copytree(templates / "index", area / "index")
    return setup


def index_build(templates, encoders) -> Writer:
    from retrieval_tagger.build import BuildOptions, build_index

    def write(area):
        build_index(templates / "other.csv", area / "index", OTHER_SPEC, BuildOptions(force=True), encoders=encoders)
    return Writer("index build --force", with_index(templates), write, lambda area: tagged(area / "index", encoders), 8)


def vocab_add(templates, encoders) -> Writer:
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.pipeline import Tagger

    def write(area):
        Tagger(open_index(area / "index"), *encoders).add_vocab(templates / "v2.txt", "v", force=True)
    return Writer("vocab add --force", with_index(templates), write, lambda area: tagged(area / "index", encoders, vocab="v"), 8)


def vocab_remove(templates, encoders) -> Writer:
    from retrieval_tagger.vocab.stored import remove_vocab

    def answer(area):
        try:
            return tagged(area / "index", encoders, vocab="v")
        except VocabError as exc:
            assert "has no vocabulary 'v'" in str(exc), exc
            return "removed"
    def write(area):
        try:
            remove_vocab(area / "index", "v")
        except VocabError as exc:  # removed before the stop: removing again says so (and clears leftovers)
            assert "has no vocabulary 'v'" in str(exc), exc
    return Writer("vocab remove", with_index(templates), write, answer, 6)


def reranker_save(templates, encoders) -> Writer:
    import lightgbm

    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.rerank import model

    def write(area):
        index = open_index(area / "index")
        old = model.load(index)
        fewer = lightgbm.Booster(model_str=old.booster.model_to_string(num_iteration=1))
        model.save(model.Reranker(fewer, old.calibrator, old.features, old.signals, old.table, index, {}), index, {"rounds": 1})

    def answer(area):
        return model.load(open_index(area / "index")).booster.model_to_string(), tagged(area / "index", encoders)
    return Writer("reranker save", with_index(templates), write, answer, 8)


def align_checkpoint() -> Writer:
    from retrieval_tagger.align import checkpoint

    def save_epoch(area: Path, epoch: int) -> None:
        toy, state = Toy(), checkpoint.fresh({"mean_r1": 0.0, "mean_r10": 0.0})
        state.update(epoch=epoch - 1, best={"mean_r1": 0.0, "mean_r10": 0.0, "epoch": epoch - 1})
        toy.epoch(float(epoch))
        checkpoint.advance(state, {"epoch": epoch, "mean_r1": float(epoch), "mean_r10": 0.0}, toy)
        checkpoint.save(area / "work", FINGERPRINT, state, toy, toy.optimizer)

    def setup(area):
        (area / "work").mkdir(parents=True)
        save_epoch(area, 1)

    def answer(area):
        toy = Toy()
        state = checkpoint.load(area / "work", FINGERPRINT, toy, toy.optimizer)
        weights = {float(p.detach().mean()) for p in toy.params.values()}
        moments = {float(s["exp_avg"].mean()) != 0 for s in toy.optimizer.state.values()}
        restored = Toy()
        checkpoint.restore_best(area / "work", restored)
        best = {float(p.detach().mean()) for p in restored.params.values()}
        assert weights == best == {float(state["epoch"])} and moments == {True}, (state["epoch"], weights, best)
        return state["epoch"]
    return Writer("align checkpoint", setup, lambda area: save_epoch(area, 2), answer, 8)


def tag_output() -> Writer:
    from retrieval_tagger.output import write_results
    from retrieval_tagger.pipeline import TagResult

    def setup(area):
        area.mkdir()
        (area / "tags.jsonl").write_text('{"id": "old"}\n')

    def write(area):
        results = [TagResult(f"p{i}", [{"tag": "colour:red", "score": 0.5}]) for i in range(50)]
        with artifacts.atomic_path(area / "tags.jsonl") as tmp, tmp.open("w", encoding="utf-8") as fh:
            write_results(results, fh, "jsonl")
    return Writer("tag output", setup, write, lambda area: (area / "tags.jsonl").read_text(), 6)


def onnx_export(monkeypatch) -> Writer:
    from retrieval_tagger.encoders.onnx import cache

    def export(tmp: Path) -> dict:
        (tmp / "model.onnx").write_bytes(b"onnx" * 500)
        return {"source": "abc"}

    def write(area):
        monkeypatch.setenv("RTAG_CACHE_DIR", str(area / "cache"))
        cache.cached("text", "abc", "rtag-onnx-test", 1, export, "a test model")

    def answer(area):
        monkeypatch.setenv("RTAG_CACHE_DIR", str(area / "cache"))
        found = cache.find("text", "abc", "rtag-onnx-test", 1)
        return None if found is None else (found[0] / "model.onnx").read_bytes()
    return Writer("onnx export", lambda area: area.mkdir(), write, answer, 6)


@pytest.mark.parametrize("make", ["tag_output", "onnx_export", pytest.param("align_checkpoint", marks=pytest.mark.slow)])
def test_small_writers_stopped_at_any_step_leave_a_whole_state(make, tmp_path, monkeypatch):
    writer = {"tag_output": tag_output, "onnx_export": lambda: onnx_export(monkeypatch), "align_checkpoint": align_checkpoint}[make]()
    found = run_trials(writer, tmp_path)
    print(f"\n{writer.name}: {found}")
    assert found["trials"] >= writer.trials


@pytest.mark.slow  # index builds, vocabularies and rerankers written and read back ~70 times
@pytest.mark.parametrize("make", [index_build, vocab_add, vocab_remove, reranker_save], ids=lambda f: f.__name__)
def test_index_writers_stopped_at_any_step_leave_a_whole_state(make, templates, encoders, tmp_path):
    writer = make(templates, encoders)
    found = run_trials(writer, tmp_path)
    print(f"\n{writer.name}: {found}")
    assert found["trials"] >= writer.trials


KILLED_BUILD = """
import os, signal, sys
from pathlib import Path
from retrieval_tagger import artifacts
from retrieval_tagger.artifacts import records
from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import CatalogSpec
catalog, out, stop_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
records._SETTLED_S = float("inf")  # as in the parent: no hash remembered
writing, count = (str(Path(artifacts.__file__).with_name("writes.py")), str(Path(artifacts.__file__).with_name("records.py"))), [0]
def local(frame, event, arg):
    if event == "line":
        count[0] += 1
        if count[0] == stop_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return local
sys.settrace(lambda frame, event, arg: local if frame.f_code.co_filename in writing else None)
build_index(catalog, out, CatalogSpec(facet_cols=["colour"]), BuildOptions(text_model="hash:64", image_model="none", force=True))
print("finished", flush=True)
"""


@pytest.mark.slow  # four processes that build an index and are killed
def test_an_index_build_killed_with_sigkill_leaves_a_whole_index(tmp_path, catalog_csv, facet_spec):
    from retrieval_tagger.build import BuildOptions, build_index
    from retrieval_tagger.encoders.registry import load_text_encoder

    text = (load_text_encoder(TEXT_SPEC), None)
    other = write_catalog(tmp_path / "other.csv", [dict(r, tags="") for r in catalog_rows(tmp_path / "images")[:12]], COLUMNS)
    template = tmp_path / "template" / "index"
    build_index(catalog_csv, template, facet_spec, BuildOptions(image_model="none"), encoders=text)
    old = tagged(template, text)
    probe = tmp_path / "probe"
    shutil.copytree(template.parent, probe)
    with traced() as (count, _):
        build_index(other, probe / "index", OTHER_SPEC, BuildOptions(force=True), encoders=text)
    new, steps = tagged(probe / "index", text), count[0]
    assert old != new
    outcomes = []
    for step in sorted({*np.random.default_rng(SEED).choice(np.arange(1, steps), 3, replace=False).tolist(), steps}):
        area = tmp_path / f"killed{step}"
        shutil.copytree(template.parent, area)
        proc = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(other), str(area / "index"), str(step)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
        found = tagged(area / "index", text)
        assert found in (old, new), f"killed at step {step} of {steps}: neither the old nor the new index"
        outcomes.append("old" if found == old else "new")
        build_index(other, area / "index", OTHER_SPEC, BuildOptions(force=True), encoders=text)
        assert tagged(area / "index", text) == new and leftovers(area) == []
    print(f"\nkill -9 of an index build: {steps} steps, killed at 4: {outcomes}")
