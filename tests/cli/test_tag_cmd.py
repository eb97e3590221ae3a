"""``rtag tag`` on the tiny catalog's index: files to JSON Lines and CSV, one product from
--text and --image, and the tagging options."""

from __future__ import annotations

import csv
import json

import pytest
from cli_runner import ok, rtag
from toy_catalog import TEXT_SPEC, catalog_rows, write_catalog

from retrieval_tagger.errors import RtagError


@pytest.fixture(scope="module")
def queries(tmp_path_factory, catalog_dir):
    """Ten catalog rows plus an empty row and a row whose image is missing."""
    rows = [{**row, "image": str(catalog_dir / row["image"])} for row in catalog_rows()[:10]]
    rows.append({"id": "empty", "title": "", "description": "", "image": ""})
    rows.append({"id": "no-image", "title": "green wool hat", "description": "", "image": "images/gone.png"})
    path = tmp_path_factory.mktemp("queries") / "queries.csv"
    return write_catalog(path, rows, ["id", "title", "description", "image"])


def test_tag_file_to_jsonl_has_every_row(cli_index, queries):
    result = ok("tag", queries, "--index", cli_index, "--top-n", "4")

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in lines] == [f"p{i:02d}" for i in range(10)] + ["empty", "no-image"]
    for row in lines[:10]:
        assert "error" not in row
        assert 1 <= len(row["tags"]) <= 4
        assert set(row["tags"][0]) == {"tag", "score"}
    assert {"colour:red", "article:shirt"} <= {t["tag"] for t in lines[0]["tags"]}
    assert lines[10] == {"id": "empty", "tags": [], "error": "no text and no readable image"}
    assert "article:hat" in {t["tag"] for t in lines[11]["tags"]}


def test_tag_file_to_csv(cli_index, queries, tmp_path):
    out = tmp_path / "tags.csv"
    result = ok("tag", queries, "--index", cli_index, "--output", out, "--format", "csv", "--top-n", "3")

    assert f"wrote 12 products to {out} (1 could not be tagged)" in result.stderr
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "tags", "scores", "review", "error", "warning"]
    assert len(rows) == 12
    assert len(rows[0]["tags"].split("|")) == len(rows[0]["scores"].split("|")) == 3
    assert rows[10]["error"] == "no text and no readable image" and rows[10]["tags"] == ""
    assert not list(tmp_path.glob("*.tmp"))


def test_tag_one_product_from_text(cli_index):
    result = ok("tag", "--index", cli_index, "--text", "blue denim jeans", "--top-n", "5")
    (line,) = result.stdout.splitlines()
    row = json.loads(line)
    assert row["id"] == "query"
    assert row["tags"][0]["tag"] in {"article:jeans", "denim"}
    assert {"article:jeans", "denim", "colour:blue"} <= {t["tag"] for t in row["tags"]}


def test_tag_one_product_from_an_image(cli_index, catalog_dir):
    result = ok("tag", "--index", cli_index, "--image", catalog_dir / "images" / "p07.png", "-k", "1", "--weights", "image=1")
    row = json.loads(result.stdout)
    # its own image is its nearest neighbour: the product's tags come back
    assert {t["tag"] for t in row["tags"]} == {"denim", "summer", "colour:blue", "article:jeans"}


def test_tag_one_product_from_text_and_image(cli_index, catalog_dir):
    result = ok("tag", "--index", cli_index, "--text", "white wool hat", "--image", catalog_dir / "images" / "p28.png")
    row = json.loads(result.stdout)
    assert "warning" not in row
    assert {"colour:white", "article:hat", "wool"} <= {t["tag"] for t in row["tags"]}


def test_tag_needs_exactly_one_kind_of_input(cli_index, queries):
    for args in ([], [queries, "--text", "red shirt"]):
        result = rtag("tag", "--index", cli_index, *args)
        assert isinstance(result.exception, RtagError)
        assert "give either an INPUT file or --text/--image" in str(result.exception)


def test_tag_options_reach_the_tagger(cli_index):
    loose = json.loads(ok("tag", "--index", cli_index, "--text", "red shirt", "--top-n", "20",
                          "--all-values", "--temperature", "1").stdout)
    colours = [t for t in loose["tags"] if t["tag"].startswith("colour:")]
    assert len(colours) > 1
    strict = json.loads(ok("tag", "--index", cli_index, "--text", "red shirt", "--top-n", "20",
                           "--temperature", "1", "--min-score", "0.5").stdout)
    assert strict["tags"] and all(t["score"] >= 0.5 for t in strict["tags"])


def test_tag_and_eval_a_catalog_with_only_a_title_column(tmp_path):
    """Default text columns are used where present, at query time as at index time."""
    rows = catalog_rows()
    path = write_catalog(tmp_path / "catalog.csv", rows, ["id", "title", "colour", "article"])
    ok("index", path, "--name", tmp_path / "idx", "--facet-cols", "colour,article", "--text-model", TEXT_SPEC, "--image-model", "none")
    tagged = ok("tag", path, "--index", tmp_path / "idx")
    assert len(tagged.stdout.splitlines()) == 30
    assert json.loads(ok("eval", path, "--index", tmp_path / "idx", "--json").stdout)["evaluated"] == 30


def test_explain_adds_why_to_each_tag(cli_index):
    out = ok("tag", "--index", cli_index, "--text", "red cotton shirt", "--explain").stdout
    tags = json.loads(out.splitlines()[0])["tags"]
    assert tags and all({"fused", "signals", "rerank", "neighbours", "words"} <= set(t["why"]) for t in tags)
    refused = rtag("tag", "--index", cli_index, "--text", "red cotton shirt", "--explain", "--format", "csv")
    assert refused.exit_code != 0 and "--explain" in str(refused.exception)
