"""``rtag serve``'s command line: refusals before anything loads (the server itself is
tested over HTTP in tests/serve/)."""

from __future__ import annotations

import importlib.util

from cli_runner import rtag

from retrieval_tagger.cli import serve_cmd
from retrieval_tagger.errors import IndexNotFoundError, RtagError


def test_unknown_index_is_refused_before_loading(tmp_path, monkeypatch):
    monkeypatch.setenv("RTAG_INDEX_DIR", str(tmp_path))
    result = rtag("serve", "--index", "nope")
    assert isinstance(result.exception, IndexNotFoundError) and "no index at" in str(result.exception)


def test_missing_extra_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    result = rtag("serve")
    assert isinstance(result.exception, RtagError)
    assert "pip install 'retrieval-tagger[serve]'" in str(result.exception) and "uvicorn" in str(result.exception)


def test_help_lists_the_options():
    result = rtag("serve", "--help")
    assert result.exit_code == 0
    for option in ("--api-key", "--batch-window-ms", "--max-body-mb", "--cors-origin", "--reload-every"):
        assert option in result.output
    assert set(serve_cmd.SERVE_MODULES) >= {"fastapi", "uvicorn"}
