"""Files given to ``rtag tag`` and ``rtag eval``: the index's columns that a file lacks
mean "not given" (with a note), a column named on the command line must exist, every row
appears in the output, a missing image gives a ``warning``, and bad quoting is refused."""

from __future__ import annotations

import json
import logging

import pytest
from cli_runner import FAST, ok, rtag
from toy_catalog import COLUMNS, catalog_rows, write_catalog

from retrieval_tagger.errors import CatalogError


@pytest.fixture(scope="module")
def photo_index(tmp_path_factory):
    """The tiny catalog indexed with its text and image columns named on the command line,
    so the manifest records ``image_col: image``, as the tester's index did."""
    folder = tmp_path_factory.mktemp("photo")
    catalog = write_catalog(folder / "catalog.csv", catalog_rows(folder / "images"), COLUMNS)
    ok("index", catalog, "--name", folder / "idx", "--image-col", "image", "--text-cols", "title",
       "--tags-col", "tags", "--facet-cols", "colour,article", *FAST)
    assert json.loads((folder / "idx" / "manifest.json").read_text())["catalog"]["columns"]["image_col"] == "image"
    return folder / "idx"


@pytest.fixture()
def titles(tmp_path):
    rows = [{"id": r["id"], "productDisplayName": r["title"]} for r in catalog_rows()[:6]]
    return write_catalog(tmp_path / "titles.csv", rows, ["id", "productDisplayName"])


def test_a_title_only_file_is_tagged_against_an_index_built_with_photos(photo_index, titles, caplog):
    with caplog.at_level(logging.INFO, logger="rtag"):
        result = ok("tag", titles, "--index", photo_index, "--id-col", "id", "--text-cols", "productDisplayName")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in lines] == [f"p{i:02d}" for i in range(6)]
    assert all(r["tags"] and "error" not in r and "warning" not in r for r in lines)
    assert "colour:red" in {t["tag"] for t in lines[0]["tags"]}
    assert "titles.csv has no image column 'image' that the index reads: its rows are read without it" in caplog.messages


def test_a_column_named_on_the_command_line_must_exist(photo_index, titles):
    result = rtag("tag", titles, "--index", photo_index, "--text-cols", "productDisplayName", "--image-col", "image")
    assert isinstance(result.exception, CatalogError)
    assert str(result.exception) == "titles.csv has no image column 'image'; its columns are: id, productDisplayName"


def test_eval_reads_a_file_without_the_index_image_column(photo_index, tmp_path, caplog):
    rows = [{k: v for k, v in r.items() if k != "image"} for r in catalog_rows()]
    path = write_catalog(tmp_path / "truth.csv", rows, ["id", "title", "tags", "colour", "article"])
    with caplog.at_level(logging.INFO, logger="rtag"):
        metrics = json.loads(ok("eval", path, "--index", photo_index, "--json").stdout)
    assert metrics["evaluated"] == 30
    assert any("truth.csv has no image column 'image'" in m for m in caplog.messages)


def test_every_row_appears_and_a_missing_image_gives_a_warning(photo_index, tmp_path):
    folder = photo_index.parent
    rows = [
        {"id": "ok", "title": "red cotton shirt", "image": str(folder / "images" / "p00.png")},
        {"id": "gone", "title": "red cotton shirt", "image": "images/gone.png"},
        {"id": "bad", "title": "red cotton shirt", "image": "broken.png"},
        {"id": "nothing", "title": "", "image": "images/gone.png"},
    ]
    (tmp_path / "broken.png").write_bytes(b"not a png")
    path = write_catalog(tmp_path / "q.csv", rows, ["id", "title", "image"])
    lines = [json.loads(line) for line in ok("tag", path, "--index", photo_index).stdout.splitlines()]
    assert [r["id"] for r in lines] == ["ok", "gone", "bad", "nothing"]
    assert "warning" not in lines[0]
    assert lines[1]["tags"] and lines[1]["warning"] == f"image file not found: {tmp_path / 'images' / 'gone.png'}"
    assert lines[2]["tags"] and lines[2]["warning"] == f"image could not be read: {tmp_path / 'broken.png'}"
    assert lines[3] == {"id": "nothing", "tags": [], "error": f"no text and no readable image (image file not found: {tmp_path / 'images' / 'gone.png'})"}


def test_a_tag_file_with_a_stray_quote_is_refused_not_shortened(photo_index, tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('id,title\np1,red shirt\np2,"blue jeans\np3,green hat\np4,black bag\n', encoding="utf-8")
    result = rtag("tag", path, "--index", photo_index)
    assert isinstance(result.exception, CatalogError)
    assert str(result.exception).startswith(f"{path} line 3: a quoted field that starts in this record is never closed")
