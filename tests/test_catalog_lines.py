"""Locations in what read_catalog reports: rows are named by the physical line they start
on (after multi-line quoted fields, blank lines and CRLF), a bad JSON tag cell by its line
and column; JSON tags that are not strings are refused, numbers taken as their text."""

from __future__ import annotations

import json

import pytest

from retrieval_tagger.catalog import CatalogSpec, parse_tag_list, read_catalog
from retrieval_tagger.errors import CatalogError


def test_rows_are_named_by_the_line_they_start_on(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(
        b'id,title,description\r\n'                     # line 1
        b'a,Shirt,"two\r\nlines"\r\n'                   # lines 2-3
        b'\r\n'                                         # line 4: blank
        b'b,Dress,"three\nmixed\r\nline ends"\r\n'      # lines 5-7
        b'a,Again,\r\n'                                 # line 8: a duplicate id
        b'c,,\r\n'                                      # line 9: no text
    )
    products, report = read_catalog(path)
    assert [p.id for p in products] == ["a", "b"]
    assert report.examples["duplicate_ids"] == ["c.csv line 8: a"]
    assert report.examples["empty_rows"] == ["c.csv line 9"]
    assert products[1].text == "Dress three mixed line ends"


def test_a_strict_error_names_the_line_after_multi_line_rows(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,title\n1,"x\ny\nz"\n1,again\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"c\.csv line 5: duplicate id '1'"):
        read_catalog(path, CatalogSpec(strict=True))


# -- JSON tag cells ------------------------------------------------------------------------


def test_a_broken_json_tag_cell_names_the_line_and_column(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,title,tags\n1,Shirt,"[""a""]"\n2,"Two\nlines",x\n3,Hat,"[""b"", oops]"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"c\.csv line 5, column 'tags': '\[\"b\", oops\]' looks like a JSON array but is not valid JSON"):
        read_catalog(path, CatalogSpec(tags_col="tags"))


@pytest.mark.parametrize(
    "cell, kind",
    [('["a", {"a": 2}]', "an object"), ('["a", ["b"]]', "a list"), ('["a", null]', "null"), ('[true]', "true/false")],
)
def test_a_json_tag_that_is_not_a_string_or_number_is_an_error(tmp_path, cell, kind):
    path = tmp_path / "c.tsv"
    path.write_text(f"id\ttitle\ttags\n1\tShirt\t[\"a\"]\n2\tHat\t{cell}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=rf"c\.tsv line 3, column 'tags': a tag list holds {kind} .*tags must be strings"):
        read_catalog(path, CatalogSpec(tags_col="tags"))


def test_json_numbers_in_tag_lists_are_taken_as_their_text(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "1", "title": "Shirt", "tags": ["cotton", 2012, 1.5]}) + "\n", encoding="utf-8")
    (product,), _ = read_catalog(path, CatalogSpec(tags_col="tags"))
    assert product.tags == ["cotton", "2012", "1.5"]
    assert parse_tag_list('[7, "7"]') == ["7"]


def test_a_native_jsonl_list_with_an_object_names_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "1", "title": "a", "tags": ["x"]}\n\n{"id": "2", "title": "b", "tags": [{"a": 2}]}\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"c\.jsonl line 3, column 'tags': a tag list holds an object \(\{\"a\": 2\}\)"):
        read_catalog(path, CatalogSpec(tags_col="tags"))
