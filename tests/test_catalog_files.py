"""Reading catalog files: CSV and TSV quoting (a stray quote, a row with too many or too
few fields, and quoted fields that run past their row are errors naming the line the bad
record starts on, at index time and at query time; well-formed multi-line fields are read
as they are), the start line of every row, and a bad UTF-8 byte named by its offset in
the file and its line."""

from __future__ import annotations

import json

import pytest

from retrieval_tagger import catalog_files
from retrieval_tagger.catalog import CatalogSpec, read_catalog
from retrieval_tagger.errors import CatalogError

FACETS = CatalogSpec(facet_cols=["gender"])


def catalog_60(sep: str, stray_at: int | None = None, closer: str | None = None) -> str:
    """A 60-row catalog (header on line 1, product i on line i + 1); ``stray_at`` puts a
    stray quote at the start of that product's title; ``closer`` replaces the title of
    the last product (e.g. one with an inch mark that closes the stray quote by chance)."""
    lines = [sep.join(["id", "title", "gender"])]
    for i in range(1, 61):
        title = f"Shirt {i}"
        if i == stray_at:
            title = '"' + title
        if i == 60 and closer is not None:
            title = closer
        lines.append(sep.join([f"p{i}", title, "Men" if i % 2 else "Women"]))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
def test_well_formed_60_rows_are_all_read(tmp_path, suffix, sep):
    path = tmp_path / f"c{suffix}"
    path.write_text(catalog_60(sep), encoding="utf-8")
    products, report = read_catalog(path, FACETS)
    assert (report.rows_read, report.kept) == (60, 60)
    assert [p.id for p in products] == [f"p{i}" for i in range(1, 61)]


@pytest.mark.parametrize("suffix, sep, kind", [(".csv", ",", "CSV"), (".tsv", "\t", "TSV")])
@pytest.mark.parametrize("purpose", ["index", "query"])
def test_a_stray_quote_that_swallows_the_rest_of_the_file_is_an_error(tmp_path, suffix, sep, kind, purpose):
    # the tester's case: a stray quote at the start of the 2nd product's title (line 3)
    # once read as "2 rows read, 2 kept" with 58 products inside one title
    path = tmp_path / f"c{suffix}"
    path.write_text(catalog_60(sep, stray_at=2), encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        read_catalog(path, FACETS, purpose=purpose)
    message = str(info.value)
    assert message.startswith(f"{path} line 3: a quoted field that starts in this record is never closed")
    assert f"a {kind} field that starts with a quote" in message and 'as ""' in message


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
def test_a_stray_quote_closed_by_chance_is_still_an_error(tmp_path, suffix, sep):
    # an inch mark right before the delimiter closes the stray field cleanly, and the
    # swallowed record even has the header's width: the rows inside it give it away
    path = tmp_path / f"c{suffix}"
    path.write_text(catalog_60(sep, stray_at=5, closer='TV 27"'), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"line 6: a quoted field runs to line 61 and holds whole lines that read as rows"):
        read_catalog(path, FACETS)


def test_a_closing_quote_followed_by_text_names_the_record_and_the_line(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,title,gender\np1,"a\nlong" shirt,Men\np2,ok,Men\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"c\.csv line 2: bad quoting at line 3 \(',' expected after '\"'\)"):
        read_catalog(path)


@pytest.mark.parametrize(
    "row, expected",
    [
        ("p2,Shirt, red,Men", r"line 3: 4 fields where the header \(line 1\) has 3: quote the fields that contain a comma"),
        ("p2,Shirt", r"line 3: 2 fields where the header \(line 1\) has 3: give every row 3 fields, empty ones too"),
    ],
    ids=["too-many", "too-few"],
)
def test_a_row_whose_field_count_differs_from_the_header_is_an_error(tmp_path, row, expected):
    path = tmp_path / "c.csv"
    path.write_text(f"id,title,gender\np1,Shirt,Men\n{row}\np3,Shirt,Men\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=expected):
        read_catalog(path)


def test_a_record_that_runs_past_its_line_with_the_wrong_width_says_so(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text('id\ttitle\tgender\np1\t"Shirt\tMen\np2\tDress"\np3\tHat\tMen\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"line 2: 2 fields where the header \(line 1\) has 3: the record runs to line 3"):
        read_catalog(path)


def test_multi_line_fields_with_commas_are_read_whole(tmp_path):
    # one line inside the description reads as a row of three fields; one is not enough
    # to call it swallowed rows
    description = "Features:\nsoft, warm, cosy\nmachine washable\n"
    path = tmp_path / "c.csv"
    path.write_text(
        'id,title,description\np1,Shirt,"' + description + '"\np2,"Say ""hi"" shirt",\n', encoding="utf-8"
    )
    products, report = read_catalog(path)
    assert report.rows_read == 2
    assert products[0].text == "Shirt Features: soft, warm, cosy machine washable"
    assert products[1].text == 'Say "hi" shirt'


def test_blank_lines_are_not_rows(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("\nid,title\n\np1,Shirt\n   \np2,Dress\n\n", encoding="utf-8")
    products, report = read_catalog(path)
    assert [p.id for p in products] == ["p1", "p2"] and report.rows_read == 2


def test_a_file_with_only_blank_lines_has_no_header(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="is empty: expected a header row"):
        read_catalog(path)


# -- line numbers and UTF-8 -----------------------------------------------------------------


def test_rows_start_lines_as_iter_rows_gives_them(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text('id\ttitle\n1\t"a\nb\nc"\n2\tx\n\n3\t"y\n"\n4\tz\n', encoding="utf-8")
    columns, rows = catalog_files.iter_rows(path)
    assert columns == ["id", "title"]
    assert [(line, row["id"]) for line, row in rows] == [(2, "1"), (5, "2"), (7, "3"), (9, "4")]


def bad_utf8_file(path, prefix: bytes, bad: bytes = b"\xe9", suffix: bytes = b"x\n"):
    path.write_bytes(prefix + bad + suffix)
    return len(prefix), prefix.count(b"\n") + 1


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_a_bad_utf8_byte_is_named_by_its_offset_in_the_file_and_its_line(tmp_path, suffix):
    # far past the first buffer a text decoder fills, where its own offsets restart
    if suffix == ".jsonl":
        prefix = b"".join(json.dumps({"id": str(i), "title": "caf\u00e9 \u00e0 la cr\u00e8me"}, ensure_ascii=False).encode() + b"\n" for i in range(3000))
        prefix += b'{"id": "bad", "title": "caf'
    else:
        sep = b"," if suffix == ".csv" else b"\t"
        prefix = b"id" + sep + b"title\n" + b"".join(str(i).encode() + sep + "caf\u00e9 \u00e0 la cr\u00e8me\n".encode() for i in range(3000))
        prefix += b"bad" + sep + b"caf"
    path = tmp_path / f"c{suffix}"
    offset, line = bad_utf8_file(path, prefix)
    assert path.read_bytes()[offset] == 0xE9 and offset > 65536
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    assert str(info.value) == f"{path} is not valid UTF-8: byte {offset} (line {line}) is b'\\xe9': re-save it as UTF-8"


def test_the_bad_byte_is_found_across_chunk_boundaries(tmp_path):
    # two-byte characters cut by every chunk boundary are good; the lone 0xff is not
    path = tmp_path / "c.csv"
    prefix = "id,title\n1,\u00e9\u00e9\u00e9\n2,\u00e9\u00e9\n".encode()
    offset, line = bad_utf8_file(path, prefix, b"\xff")
    for chunk in (1, 2, 3, 7):
        assert catalog_files._first_bad_utf8(path, chunk) == (offset, line, b"\xff")


def test_a_truncated_character_at_the_end_of_the_file_is_found(tmp_path):
    path = tmp_path / "c.csv"
    prefix = b"id,title\n1,ok\n2,caf"
    offset, line = bad_utf8_file(path, prefix, b"\xc3", b"")
    assert catalog_files._first_bad_utf8(path, 4) == (offset, 3, b"\xc3")


def test_a_file_without_a_header_is_read_with_named_columns(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("p1,Red shirt,Men\np2,Blue dress,Women\n", encoding="utf-8")
    products, _ = read_catalog(path, CatalogSpec(column_names=["id", "title", "gender"], facet_cols=["gender"]))
    assert [(p.id, p.text, p.tags) for p in products] == [("p1", "Red shirt", ["gender:Men"]), ("p2", "Blue dress", ["gender:Women"])]
    path.write_text("p1,Red shirt,Men\np2,Blue dress\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"line 2: 2 fields where --columns names 3"):
        read_catalog(path, CatalogSpec(column_names=["id", "title", "gender"]))
    jsonl = tmp_path / "catalog.jsonl"
    jsonl.write_text('{"id": "p1", "title": "x"}\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="for CSV and TSV files"):
        catalog_files.iter_rows(jsonl, ["id", "title"])
    with pytest.raises(CatalogError, match="repeats a name"):
        catalog_files.iter_rows(path, ["id", "id"])
