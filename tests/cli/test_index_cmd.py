"""``rtag index``: overwriting, bare names, skipped rows reported, every catalog format, and
the renamed --batch-size."""

from __future__ import annotations

import json

import pytest
from cli_runner import FAST, ok, rtag
from toy_catalog import COLUMNS, TEXT_SPEC, catalog_rows, write_catalog

from retrieval_tagger.errors import IndexExistsError


def test_index_refuses_to_overwrite_without_force(cli_index, catalog_csv):
    result = rtag("index", catalog_csv, "--name", cli_index, *FAST)
    assert isinstance(result.exception, IndexExistsError)


def test_index_by_bare_name_and_without_tags_warns(catalog_csv, index_home):
    result = ok("index", catalog_csv, "--name", "plain", "--text-model", TEXT_SPEC, "--image-model", "none")
    assert "no --tags-col, --facet-cols or --category-col given" in result.stderr
    assert (index_home / "plain" / "manifest.json").is_file()
    assert "counts: products 30" in ok("info", "plain").stdout
    row = json.loads(ok("tag", "--index", "plain", "--text", "red shirt").stdout)
    assert row == {"id": "query", "tags": []}


def test_index_reports_skipped_rows_with_examples(tmp_path):
    rows = catalog_rows()[:3] + [catalog_rows()[0], {"id": "blank", "title": ""}]
    path = write_catalog(tmp_path / "c.csv", rows, ["id", "title", "colour"])
    result = ok("index", path, "--name", tmp_path / "idx", "--facet-cols", "colour", "--text-model", TEXT_SPEC, "--image-model", "none")
    assert "catalog: 5 rows read, 3 kept, 2 skipped (1 duplicate id (first kept); 1 no text and no image)" in result.stderr
    assert "duplicate_ids: c.csv line 5: p00" in result.stderr


@pytest.mark.parametrize(
    "suffix, tags",
    [
        (".csv", lambda row: row["tags"]),  # "cotton|winter"
        (".tsv", lambda row: json.dumps(row["tags"].split("|"))),  # a JSON array in a cell
        (".jsonl", lambda row: row["tags"].split("|")),  # a native JSON list
    ],
    ids=["csv-pipes", "tsv-json-array", "jsonl-list"],
)
def test_index_and_tag_every_format(tmp_path, suffix, tags):
    rows = [{**row, "tags": tags(row)} for row in catalog_rows()]
    path = write_catalog(tmp_path / f"catalog{suffix}", rows, ["id", "title", "tags", "colour"])
    ok("index", path, "--name", tmp_path / "idx", "--tags-col", "tags", "--facet-cols", "colour",
       "--text-model", TEXT_SPEC, "--image-model", "none")
    assert "tags 13" in ok("info", tmp_path / "idx").stdout  # 6 materials, 2 seasons, 5 colours
    lines = ok("tag", path, "--index", tmp_path / "idx", "-k", "1").stdout.splitlines()
    assert len(lines) == 30
    first = json.loads(lines[0])
    assert first["id"] == "p00"
    assert {t["tag"] for t in first["tags"]} == {"cotton", "winter", "colour:red"}


def test_index_takes_image_batch_and_the_old_batch_size_with_a_warning(tmp_path):
    help_text = ok("index", "--help").stdout
    assert "--image-batch" in help_text and "--batch-size" not in help_text
    path = write_catalog(tmp_path / "c.csv", catalog_rows(tmp_path / "images")[:6], COLUMNS)
    new = ok("index", path, "--name", tmp_path / "new", "--facet-cols", "colour", "--image-batch", "4", *FAST)
    assert "deprecated" not in new.stderr and "--image-batch" not in new.stderr
    old = ok("index", path, "--name", tmp_path / "old", "--facet-cols", "colour", "--batch-size", "4", *FAST)
    assert "`rtag index --batch-size` is now --image-batch" in old.stderr
    for name in ("new", "old"):
        assert json.loads((tmp_path / name / "manifest.json").read_text())["build"]["batch_size"] == 4


def test_a_headerless_catalog_with_a_category_path_and_photos_in_a_folder(tmp_path):
    (tmp_path / "photos").mkdir()
    lines = []
    for i, (kind, article) in enumerate([("Clothing", "Shirts"), ("Clothing", "Jeans"), ("Shoes", "Boots")] * 4):
        lines.append(f"p{i},{article.lower()} {i},Shop | {kind} | {article} | item {i},p{i}.png")
    (tmp_path / "c.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = ["index", tmp_path / "c.csv", "--name", tmp_path / "idx", *FAST, "--no-header", "--columns", "id,title,path,image", "--image-col", "image", "--image-dir", tmp_path / "photos",
            "--category-col", "path", "--category-sep", "|", "--category-drop", "Shop", "--category-drop-last"]
    assert "12 of the 12 photos named cannot be read" in str(rtag(*base).exception)
    result = ok(*base, "--allow-missing-images")  # text only
    assert "category tree (path): 5 nodes, depth 2, 3 paths; facets path1..path2, full path as path" in result.stdout
    assert "12 image file missing" in result.stderr
    assert "category tree (path): 5 nodes, depth 2" in ok("info", tmp_path / "idx").stdout
    row = json.loads(ok("tag", "--index", tmp_path / "idx", "--text", "boots 2", "--min-score", "0").stdout)
    assert {"path1:Shoes", "path2:Boots", "path:Shoes > Boots"} <= {t["tag"] for t in row["tags"]}
    assert "--no-header needs --columns" in str(rtag("index", tmp_path / "c.csv", "--name", tmp_path / "other", "--no-header").exception)
