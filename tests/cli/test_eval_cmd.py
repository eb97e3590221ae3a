"""``rtag eval``: metrics as strict JSON or text, leaving each product out unless asked,
and bad cut-offs refused."""

from __future__ import annotations

import json

import pytest
from cli_runner import ok, rtag
from toy_catalog import TEXT_SPEC, catalog_rows, write_catalog

from retrieval_tagger.errors import RtagError


def strict_json(text):
    """json.loads that refuses NaN and Infinity, which other JSON readers reject."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_eval_json(cli_index, catalog_csv):
    result = ok("eval", catalog_csv, "--index", cli_index, "--json", "--ks", "1,3", "-k", "5")
    metrics = strict_json(result.stdout)
    assert metrics["evaluated"] == 30
    assert set(metrics) >= {"P@1", "R@1", "F1@1", "nDCG@1", "P@3", "R@3", "F1@3", "nDCG@3", "facet_accuracy", "facets"}
    assert sorted(metrics["facets"]) == ["article", "colour"]
    assert metrics["facets"]["article"]["count"] == 30
    assert 0 < metrics["facet_accuracy"] <= 1


def test_eval_includes_self_only_when_asked(cli_index, catalog_csv):
    # neighbours only: the lexical signal's out-of-fold scores get every toy product right
    held_out = json.loads(ok("eval", catalog_csv, "--index", cli_index, "--json", "-k", "1", "--weights", "text=1").stdout)
    with_self = json.loads(ok("eval", catalog_csv, "--index", cli_index, "--json", "-k", "1", "--weights", "text=1", "--include-self").stdout)
    assert with_self["facet_accuracy"] == 1.0
    assert held_out["facet_accuracy"] < 1.0


def test_eval_report_as_text(cli_index, catalog_csv):
    result = ok("eval", catalog_csv, "--index", cli_index)
    assert "products evaluated: 30" in result.stdout
    assert "P@1=" in result.stdout and "facet accuracy:" in result.stdout


@pytest.mark.parametrize("ks", ["0,1", "a,b", ""])
def test_eval_refuses_bad_cutoffs(cli_index, catalog_csv, ks):
    result = rtag("eval", catalog_csv, "--index", cli_index, "--ks", ks)
    assert isinstance(result.exception, RtagError)
    assert "--ks" in str(result.exception)


def test_eval_json_without_facets_is_valid_json(tmp_path):
    rows = catalog_rows()
    path = write_catalog(tmp_path / "catalog.csv", rows, ["id", "title", "description", "tags"])
    ok("index", path, "--name", tmp_path / "idx", "--tags-col", "tags", "--text-model", TEXT_SPEC, "--image-model", "none")
    metrics = strict_json(ok("eval", path, "--index", tmp_path / "idx", "--json").stdout)
    assert metrics["evaluated"] == 30
    assert metrics["facets"] == {}
