"""Reading catalogs: formats, tag columns, cleaning, and bad input counted or refused."""

from __future__ import annotations

import json
import sys

import pytest
from toy_catalog import COLUMNS, catalog_rows, write_catalog

from retrieval_tagger.catalog import (
    CatalogSpec,
    clean_text,
    parse_tag_list,
    read_catalog,
    spec_from_manifest,
)
from retrieval_tagger.errors import CatalogError

SPEC = CatalogSpec(tags_col="tags", facet_cols=["colour", "article"])


@pytest.fixture()
def rows():
    return catalog_rows()  # image paths point nowhere: these tests read text and tags


# -- formats ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_every_format_reads_the_same_products(tmp_path, rows, suffix):
    path = write_catalog(tmp_path / f"catalog{suffix}", rows, COLUMNS)
    products, report = read_catalog(path, SPEC)

    assert report.rows_read == report.kept == len(products) == 30
    first = products[0]
    assert first.id == "p00"
    assert first.text == "red cotton shirt A red shirt made of cotton."
    assert first.tags == ["cotton", "winter", "colour:red", "article:shirt"]
    assert [p.id for p in products] == [r["id"] for r in rows]


def test_tsv_cells_may_hold_commas(tmp_path):
    path = tmp_path / "catalog.tsv"
    path.write_text("id\ttitle\ttags\n1\tshirt, red, cotton\ta,b|c\n", encoding="utf-8")
    (product,), _ = read_catalog(path, CatalogSpec(tags_col="tags"))
    assert product.text == "shirt, red, cotton"
    assert product.tags == ["a,b", "c"]


def test_jsonl_tags_may_be_native_lists_and_numbers_become_text(tmp_path):
    path = tmp_path / "catalog.jsonl"
    lines = [
        {"id": 7, "title": "Red shirt", "tags": ["cotton", "summer", "cotton"], "year": 2012},
        {"id": "8", "title": "Blue jeans", "tags": None, "year": None},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    products, report = read_catalog(path, CatalogSpec(tags_col="tags", facet_cols=["year"]))

    assert report.rows_read == 2  # the blank trailing line is not a row
    assert products[0].id == "7"
    assert products[0].tags == ["cotton", "summer", "year:2012"]
    assert products[1].tags == []


def test_csv_with_byte_order_mark_keeps_the_id_column_name(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_bytes("\ufeffid,title\n1,Red shirt\n".encode("utf-8"))
    (product,), _ = read_catalog(path)
    assert product.id == "1"


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    # None in sys.modules makes the import fail even where pyarrow is installed
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    path = tmp_path / "catalog.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(CatalogError, match=r"pyarrow.*pip install 'retrieval-tagger\[parquet\]'"):
        read_catalog(path)


def test_parquet_round_trip(tmp_path, rows):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "catalog.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    products, report = read_catalog(path, SPEC)
    assert report.kept == 30
    assert products[0].tags == ["cotton", "winter", "colour:red", "article:shirt"]


def test_unknown_extension_lists_the_known_ones(tmp_path):
    path = tmp_path / "catalog.xlsx"
    path.write_text("id\n1\n")
    with pytest.raises(CatalogError, match=r"catalog\.xlsx.*\.csv.*\.jsonl"):
        read_catalog(path)


def test_missing_catalog_file(tmp_path):
    with pytest.raises(CatalogError, match="catalog file not found"):
        read_catalog(tmp_path / "nope.csv")


def test_invalid_jsonl_line_names_the_line(tmp_path):
    path = tmp_path / "catalog.jsonl"
    path.write_text('{"id": "1", "title": "ok"}\n{"id": 2, oops}\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"catalog\.jsonl:2: is not valid JSON"):
        read_catalog(path)


def test_non_utf8_csv_is_refused_with_advice(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_bytes("id,title\n1,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(CatalogError, match="not valid UTF-8.*re-save it as UTF-8"):
        read_catalog(path)


# -- tags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("cotton|summer", ["cotton", "summer"]),
        (" cotton | summer ||cotton", ["cotton", "summer"]),
        ('["cotton", "summer"]', ["cotton", "summer"]),
        ('["a|b", " c "]', ["a|b", "c"]),  # inside a JSON array '|' is not a separator
        (["x", "", "y", "x"], ["x", "y"]),
        ("", []),
        (None, []),
    ],
)
def test_parse_tag_list(cell, expected):
    assert parse_tag_list(cell) == expected


def test_parse_tag_list_refuses_a_broken_json_array():
    with pytest.raises(CatalogError, match="looks like a JSON array but is not valid JSON"):
        parse_tag_list('["unclosed"')


def test_json_array_tags_in_a_csv_cell(tmp_path):
    path = tmp_path / "catalog.csv"
    write_catalog(path, [{"id": "1", "title": "shirt", "tags": json.dumps(["cotton", "a|b"])}])
    (product,), _ = read_catalog(path, CatalogSpec(tags_col="tags"))
    assert product.tags == ["cotton", "a|b"]


def test_facet_columns_become_facet_tags_and_empty_values_are_skipped(tmp_path):
    path = tmp_path / "catalog.csv"
    write_catalog(path, [
        {"id": "1", "title": "shirt", "gender": "Men", "season": ""},
        {"id": "2", "title": "dress", "gender": " Women ", "season": "Summer"},
    ])
    products, _ = read_catalog(path, CatalogSpec(facet_cols=["gender", "season"]))
    assert products[0].tags == ["gender:Men"]
    assert products[1].tags == ["gender:Women", "season:Summer"]


# -- cleaning --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("<p>Soft <b>cotton</b> shirt</p>", "Soft cotton shirt"),
        ("Tom &amp; Jerry&nbsp;tee", "Tom & Jerry tee"),  # &nbsp; -> U+00A0 -> a plain space
        ("Caf&eacute; &lt;3", "Café <3"),  # entities are decoded after tags are stripped
        ("\uff32\uff45\uff44 \ufb01ne", "Red fine"),  # NFKC: full-width letters, the fi ligature
        ("  red\t\tcotton\n\n shirt  ", "red cotton shirt"),
        ("line<br/>break", "line break"),
        (None, ""),
        (42, "42"),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


def test_text_columns_are_cleaned_and_joined(tmp_path):
    path = tmp_path / "catalog.csv"
    write_catalog(path, [{"id": " 1 ", "title": "<h1>Red</h1>", "description": "  cotton&nbsp;shirt "}])
    (product,), _ = read_catalog(path)
    assert product.id == "1"
    assert product.text == "Red cotton shirt"


def test_empty_text_column_adds_no_stray_space(tmp_path):
    path = tmp_path / "catalog.csv"
    write_catalog(path, [{"id": "1", "title": "", "description": "shirt"}])
    (product,), _ = read_catalog(path)
    assert product.text == "shirt"


# -- columns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, what",
    [
        (CatalogSpec(id_col="sku"), "id column 'sku'"),
        (CatalogSpec(text_cols=["name"]), "text column 'name'"),
        (CatalogSpec(image_col="photo"), "image column 'photo'"),
        (CatalogSpec(tags_col="labels"), "tags column 'labels'"),
        (CatalogSpec(facet_cols=["colour", "gender"]), "facet column 'gender'"),
    ],
)
def test_missing_column_error_lists_existing_columns(tmp_path, rows, spec, what):
    path = write_catalog(tmp_path / "catalog.csv", rows, COLUMNS)
    with pytest.raises(CatalogError) as info:
        read_catalog(path, spec)
    message = str(info.value)
    assert what in message
    assert "its columns are: id, title, description, image, tags, colour, article" in message


def test_catalog_without_text_or_image_columns_is_refused(tmp_path):
    path = write_catalog(tmp_path / "catalog.csv", [{"id": "1", "colour": "red"}])
    with pytest.raises(CatalogError, match="neither text nor image columns.*--text-cols"):
        read_catalog(path)


def test_custom_columns(tmp_path):
    path = write_catalog(tmp_path / "catalog.csv", [{"sku": "A1", "name": "Red", "blurb": "shirt", "title": "ignored"}])
    (product,), _ = read_catalog(path, CatalogSpec(id_col="sku", text_cols=["name", "blurb"]))
    assert (product.id, product.text) == ("A1", "Red shirt")


# -- bad rows --------------------------------------------------------------------------


def test_duplicate_id_keeps_the_first_and_is_counted(tmp_path, rows):
    dup = dict(rows[1], title="a second product with the id p01")
    path = write_catalog(tmp_path / "catalog.csv", rows + [dup], COLUMNS)
    products, report = read_catalog(path, SPEC)

    assert report.rows_read == 31
    assert report.kept == len(products) == 30
    assert report.duplicate_ids == 1
    assert [p.text for p in products if p.id == "p01"] == ["red denim jeans A red jeans made of denim."]
    assert report.examples["duplicate_ids"] == ["catalog.csv line 32: p01"]
    assert "1 duplicate id (first kept)" in report.summary()


def test_duplicate_id_with_strict_is_an_error(tmp_path, rows):
    path = write_catalog(tmp_path / "catalog.csv", rows + [rows[0]], ["id", "title"])
    with pytest.raises(CatalogError, match="line 32: duplicate id 'p00'"):
        read_catalog(path, CatalogSpec(strict=True))


def test_empty_rows_are_skipped_and_counted_at_index_time(tmp_path, rows):
    empty_text = {"id": "e1", "title": " ", "description": "<br>", "image": "", "colour": "red"}
    no_id = {"id": "", "title": "a product without id"}
    path = write_catalog(tmp_path / "catalog.csv", rows[:3] + [empty_text, no_id], COLUMNS)
    products, report = read_catalog(path, SPEC, purpose="index")

    assert [p.id for p in products] == ["p00", "p01", "p02"]
    assert report.empty_rows == 2
    assert report.rows_read == 5
    assert "2 no text and no image" in report.summary()


def test_empty_rows_are_kept_with_a_problem_at_query_time(tmp_path, rows):
    empty_text = {"id": "e1", "title": "", "description": ""}
    no_id = {"id": "", "title": "a product without id"}
    path = write_catalog(tmp_path / "catalog.csv", rows[:2] + [empty_text, no_id, rows[0]], COLUMNS)
    products, _ = read_catalog(path, SPEC, purpose="query")

    assert [p.id for p in products] == ["p00", "p01", "e1", "", "p00"]  # duplicates kept too
    assert [p.problem for p in products] == [None, None, "no text and no readable image", "empty id", None]


def test_empty_row_with_strict_is_an_error(tmp_path):
    path = write_catalog(tmp_path / "catalog.csv", [{"id": "1", "title": ""}])
    with pytest.raises(CatalogError, match="line 2: no id, or neither text nor image"):
        read_catalog(path, CatalogSpec(strict=True))


def test_missing_image_file_keeps_the_product_with_text_only(tmp_path, rows):
    path = write_catalog(tmp_path / "catalog.csv", rows[:2], COLUMNS)  # images/ never written
    products, report = read_catalog(path, SPEC)

    assert len(products) == 2
    assert all(p.image is None for p in products)
    assert report.missing_images == 2
    assert "kept with text only: 2 image file missing" in report.summary()


def test_missing_image_with_strict_is_an_error(tmp_path, rows):
    path = write_catalog(tmp_path / "catalog.csv", rows[:1], COLUMNS)
    with pytest.raises(CatalogError, match="image file not found.*drop --strict"):
        read_catalog(path, CatalogSpec(strict=True))


def test_image_only_row_with_missing_image_is_empty(tmp_path):
    path = write_catalog(tmp_path / "catalog.csv", [{"id": "1", "image": "gone.png"}])
    products, report = read_catalog(path)
    assert products == []
    assert (report.missing_images, report.empty_rows) == (1, 1)


def test_image_paths_resolve_relative_to_the_catalog(tmp_path):
    (tmp_path / "sub" / "img").mkdir(parents=True)
    (tmp_path / "sub" / "img" / "a.png").write_bytes(b"")  # existence is all that is checked here
    absolute = tmp_path / "abs.png"
    absolute.write_bytes(b"")
    path = write_catalog(tmp_path / "sub" / "catalog.csv", [
        {"id": "1", "title": "t", "image": "img/a.png"},
        {"id": "2", "title": "t", "image": str(absolute)},
    ])
    products, _ = read_catalog(path)
    assert products[0].image == str((tmp_path / "sub" / "img" / "a.png").resolve())
    assert products[1].image == str(absolute)


def test_purpose_must_be_index_or_query(tmp_path, rows):
    path = write_catalog(tmp_path / "catalog.csv", rows[:1], COLUMNS)
    with pytest.raises(ValueError, match="purpose"):
        read_catalog(path, purpose="train")


def test_jsonl_rows_are_numbered_by_line_even_after_blank_lines(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "title": "x"}\n\n{"id": "a", "title": "y"}\n', encoding="utf-8")
    _, report = read_catalog(path)
    assert report.examples["duplicate_ids"] == ["c.jsonl line 3: a"]


def test_image_dir_holds_bare_file_names(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(b"")
    path = write_catalog(tmp_path / "data" / "catalog.csv", [{"id": "1", "title": "t", "image": "a.png"}])
    products, report = read_catalog(path, CatalogSpec(image_dir=str(tmp_path / "photos")))
    assert products[0].image == str((tmp_path / "photos" / "a.png").resolve())
    assert (report.image_cells, report.missing_images) == (1, 0)


def test_most_photos_unreadable_is_an_error_with_how_many_and_examples(tmp_path):
    rows = [{"id": str(i), "title": "t", "image": f"gone{i}.png" if i < 3 else ""} for i in range(5)]
    _, report = read_catalog(write_catalog(tmp_path / "catalog.csv", rows))
    assert (report.image_cells, report.missing_images) == (3, 3)
    with pytest.raises(CatalogError, match=r"3 of the 3 photos named cannot be read \(3 not found, 0 undecodable\), "
                                           r"e\.g\. catalog\.csv line 2: .*gone0\.png.*--image-dir.*--allow-missing-images"):
        report.check_images(allow=False)
    report.check_images(allow=True)
    report.missing_images = 1  # one of three: kept with text, as before
    report.check_images(allow=False)


def test_a_category_column_gives_level_facets_and_the_full_path(tmp_path):
    path = write_catalog(tmp_path / "catalog.csv", [
        {"id": "1", "title": "t", "category": "All > Toys &amp; Games > Puzzles > Jigsaw of a cat"},
        {"id": "2", "title": "t", "category": ""},
    ])
    spec = CatalogSpec(category_col="category", category_drop="All", category_drop_last=True)
    products, _ = read_catalog(path, spec)
    assert products[0].tags == ["category1:Toys & Games", "category2:Puzzles", "category:Toys & Games > Puzzles"]
    assert products[1].tags == []
    again = spec_from_manifest(spec.describe())
    assert (again.category_col, again.category_drop, again.category_drop_last, again.from_index) == ("category", "All", True, ("category_col",))
    with pytest.raises(CatalogError, match="not a regular expression"):
        read_catalog(path, CatalogSpec(category_col="category", category_drop="("))
    with pytest.raises(CatalogError, match="leave it out of --facet-cols"):
        read_catalog(path, CatalogSpec(category_col="category", facet_cols=["category"]))
