"""``rtag tag --precision`` / ``--drop-review``, ``rtag eval``'s coverage table and
``--plot``, the closing throughput line on stderr, and ``rtag info``'s skipped signals."""

from __future__ import annotations

import json
import re

import pytest
from cli_runner import ok, rtag

from retrieval_tagger.errors import RtagError
from retrieval_tagger.tags import split_facet

THROUGHPUT = re.compile(r"\d+ products in \d+\.\d s \(\d+ products/s\)\n?$")


def test_precision_marks_review_and_drop_review_leaves_them_out(cli_index, catalog_csv):
    marked = [json.loads(line) for line in ok("tag", catalog_csv, "--index", cli_index, "--precision", "0.999").stdout.splitlines()]
    assert all({split_facet(t["tag"])[0] for t in r["tags"]} >= {"colour", "article"} for r in marked)
    assert any(t.get("review") for r in marked for t in r["tags"])
    dropped = [json.loads(line) for line in ok("tag", catalog_csv, "--index", cli_index, "--precision", "0.999", "--drop-review").stdout.splitlines()]
    for before, after in zip(marked, dropped):
        assert after["tags"] == [t for t in before["tags"] if not t.get("review")]


def test_csv_lists_the_tags_to_review(cli_index, catalog_csv, tmp_path):
    out = tmp_path / "tags.csv"
    result = ok("tag", catalog_csv, "--index", cli_index, "--precision", "0.999", "--format", "csv", "--output", out)
    assert re.search(r"wrote 30 products to .* \(0 could not be tagged\); " + THROUGHPUT.pattern, result.stderr)
    import csv

    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert any(row["review"] for row in rows)
    assert all(set(filter(None, row["review"].split("|"))) <= set(row["tags"].split("|")) for row in rows)


def test_tag_ends_with_products_time_and_rate_on_stderr(cli_index):
    result = ok("tag", "--index", cli_index, "--text", "blue denim jeans")
    assert THROUGHPUT.search(result.stderr) and result.stderr.startswith("1 products in")


@pytest.mark.parametrize("value", ["0", "1.2"])
def test_precision_outside_0_1_is_refused_before_loading(cli_index, value):
    result = rtag("tag", "--index", cli_index, "--text", "x", "--precision", value)
    assert isinstance(result.exception, RtagError) and "precision must lie in (0, 1]" in str(result.exception)


def test_eval_prints_coverage_at_three_precisions_and_plots(cli_index, catalog_csv, tmp_path):
    plot = tmp_path / "curve.png"
    result = ok("eval", catalog_csv, "--index", cli_index, "--plot", plot)
    assert "coverage at a chosen precision" in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.startswith("facet ") and "P=0.9 prec" in line)
    assert "P=0.95 prec" in header and "P=0.99 prec" in header
    assert any(line.startswith("all facets") for line in result.stdout.splitlines())
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert THROUGHPUT.search(result.stderr) and "30 products in" in result.stderr
    metrics = json.loads(ok("eval", catalog_csv, "--index", cli_index, "--json").stdout)
    row = metrics["precision"]["facets"]["colour"]["0.95"]
    assert set(row) == {"threshold", "precision", "coverage", "kept", "judged"} and row["judged"] == 30


def test_plot_with_compare_is_refused(cli_index, catalog_csv, tmp_path):
    result = rtag("eval", catalog_csv, "--index", cli_index, "--compare", "--plot", tmp_path / "x.png")
    assert isinstance(result.exception, RtagError) and "drop --compare" in str(result.exception)


def test_info_says_which_signals_tagging_skips(cli_index):
    text = ok("info", cli_index).stdout
    line = next(line for line in text.splitlines() if line.startswith("signals skipped at tag time:"))
    manifest = json.loads((cli_index / "manifest.json").read_text())
    weights = manifest["fusion"]["weights"]
    every = [weights["default"], *weights.get("facets", {}).values()]
    zero = [name for name in weights["default"] if all(w.get(name, 0) == 0 for w in every)]
    assert line.endswith(", ".join(zero) + " (fitted weight 0 for every facet)") if zero else line.endswith(": none")
