"""The ``rtag`` app and its console entry point: the version, one clean error line with exit
code 2, a fast --help that imports no torch, help for every command, and logging."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from cli_runner import FAST, ok
from toy_catalog import COLUMNS, catalog_rows, write_catalog

from retrieval_tagger.cli.main import main


def test_version():
    from retrieval_tagger import __version__

    assert ok("--version").stdout.strip() == f"rtag {__version__}"


def run_main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["rtag", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        main()
    return info.value.code, capsys.readouterr()


def test_main_turns_rtag_errors_into_one_line(monkeypatch, capsys, tmp_path):
    path = write_catalog(tmp_path / "c.csv", catalog_rows()[:2], COLUMNS)
    code, out = run_main(monkeypatch, capsys, "index", path, "--name", tmp_path / "idx", "--facet-cols", "gender", *FAST)
    assert code == 2
    assert out.err.splitlines() == [
        "rtag: error: c.csv has no facet column 'gender'; its columns are: id, title, description, image, tags, colour, article"
    ]
    assert "Traceback" not in out.err


def test_main_exit_code_zero_on_success(monkeypatch, capsys, cli_index):
    code, out = run_main(monkeypatch, capsys, "info", cli_index)
    assert code == 0
    assert "counts: products 30" in out.out


def test_unknown_index_in_a_real_process(tmp_path):
    env = {**os.environ, "RTAG_INDEX_DIR": str(tmp_path), "RTAG_NO_PROGRESS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "retrieval_tagger.cli.main", "info", "nope"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"rtag: error: no index at {tmp_path / 'nope'}: build one with `rtag index CATALOG --name nope`"
    ]
    assert proc.stdout == ""


def test_help_is_fast_and_does_not_import_torch(tmp_path):
    env = {**os.environ, "RTAG_INDEX_DIR": str(tmp_path)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "retrieval_tagger.cli.main", "--help"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0
    for command in ("index", "tag", "eval", "info"):
        assert command in proc.stdout
    assert elapsed < 3.0, f"rtag --help took {elapsed:.1f}s"

    probe = ("import sys, retrieval_tagger, retrieval_tagger.cli.main; "
             "print(sorted(m for m in ('torch', 'faiss', 'open_clip', 'sentence_transformers', 'numpy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["index", "tag", "eval", "info"])
def test_each_command_has_help(command):
    result = ok(command, "--help")
    assert "Usage:" in result.stdout


@pytest.mark.parametrize("verbose, expected", [
    (False, ["rtag: a note"]),
    (True, ["rtag: a note", "rtag: some detail", "rtag: another library's note"]),
])
def test_library_notes_show_by_default_and_detail_with_verbose(verbose, expected):
    probe = ("import logging; from retrieval_tagger.cli.main import configure_logging; "
             f"configure_logging({verbose}); logging.getLogger('rtag.align').info('a note'); "
             "logging.getLogger('rtag').debug('some detail'); logging.getLogger('other').info(\"another library's note\")")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == expected
