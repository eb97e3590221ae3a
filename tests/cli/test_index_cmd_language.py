"""``rtag index --language``: detected or given, shown in the summary and recorded; a bad
setting is one line before any model loads."""

from __future__ import annotations

import json

from cli_runner import ok, rtag
from zh_catalog import write_zh_catalog

from retrieval_tagger.errors import CatalogError

FAST = ["--text-model", "hash:64", "--image-model", "none", "--facet-cols", "gender,colour,article"]


def test_the_language_is_detected_or_given_and_recorded(tmp_path):
    path = write_zh_catalog(tmp_path / "zh.csv")
    result = ok("index", path, "--name", tmp_path / "auto", *FAST)
    assert "; language zh (detected, CJK share" in result.stderr
    result = ok("index", path, "--name", tmp_path / "given", *FAST, "--language", "zh")
    assert "; language zh (given, CJK share" in result.stderr
    assert json.loads((tmp_path / "given" / "manifest.json").read_text(encoding="utf-8"))["language"]["code"] == "zh"


def test_a_bad_language_is_refused_in_one_line(tmp_path):
    result = rtag("index", write_zh_catalog(tmp_path / "zh.csv"), "--name", tmp_path / "bad", *FAST, "--language", "Chinese!")
    assert isinstance(result.exception, CatalogError)
    assert str(result.exception).startswith("--language 'chinese!': write auto or a language code")
    assert not (tmp_path / "bad").exists()
