"""Tag spellings: facet values and free tags that differ only in case or spacing become
one tag (the most frequent spelling, or the index's at query time), counted in the
report that `rtag index` prints and the manifest records; facet names are never merged."""

from __future__ import annotations

import json

from cli_runner import ok
from toy_catalog import TEXT_SPEC, write_catalog

from retrieval_tagger.catalog import CatalogSpec, read_catalog
from retrieval_tagger.tags import merge_spellings, normal_spelling

ROWS = [
    {"id": "1", "title": "shirt", "gender": "Men", "tags": "Cotton|summer"},
    {"id": "2", "title": "shirt", "gender": "men", "tags": "cotton|gender: Men "},
    {"id": "3", "title": "shirt", "gender": "  Men ", "tags": "COTTON"},
    {"id": "4", "title": "dress", "gender": "WOMEN", "tags": "Summer|cotton"},
    {"id": "5", "title": "dress", "gender": "Women", "tags": "summer"},
]
SPEC = CatalogSpec(tags_col="tags", facet_cols=["gender"])


def test_spellings_of_one_tag_merge_into_the_most_frequent(tmp_path):
    path = write_catalog(tmp_path / "c.csv", ROWS)
    products, report = read_catalog(path, SPEC)

    assert [p.tags for p in products] == [
        ["cotton", "summer", "gender:Men"],
        ["cotton", "gender:Men"],  # the free tag "gender: Men" is the facet tag, once
        ["cotton", "gender:Men"],
        ["summer", "cotton", "gender:WOMEN"],  # WOMEN and Women tie: the first seen wins
        ["summer", "gender:WOMEN"],
    ]
    # Cotton, gender: Men, gender:men, COTTON, Summer, gender:Women: once each
    assert (report.merged_spellings, report.merged_tags) == (6, 6)
    assert report.examples["merged_spellings"] == [
        "'Cotton' -> 'cotton' (1 product)", "'gender: Men' -> 'gender:Men' (1 product)", "'gender:men' -> 'gender:Men' (1 product)",
    ]
    assert "merged 6 tag spelling(s) differing only in case or spacing into the most frequent (6 product tags rewritten)" in report.summary()
    assert report.to_dict()["merged_spellings"] == 6


def test_facet_names_are_columns_and_never_merge(tmp_path):
    path = write_catalog(tmp_path / "c.csv", [{"id": "1", "title": "a", "Gender": "Men", "gender": "men"}])
    (product,), report = read_catalog(path, CatalogSpec(facet_cols=["Gender", "gender"]))
    assert product.tags == ["Gender:Men", "gender:men"]
    assert report.merged_spellings == 0


def test_a_known_spelling_wins_at_query_time(tmp_path):
    path = write_catalog(tmp_path / "truth.csv", [{"id": "1", "title": "a", "gender": "men"}, {"id": "2", "title": "b", "gender": "MEN"}])
    products, report = read_catalog(path, CatalogSpec(facet_cols=["gender"]), purpose="query", known_tags=["gender:Men", "gender:Women"])
    assert [p.tags for p in products] == [["gender:Men"], ["gender:Men"]]
    assert report.merged_spellings == 2


def test_merge_spellings_keeps_lists_without_variants_as_they_are():
    lists = [["a", "colour:red"], ["colour:blue"]]
    assert merge_spellings(lists) == (lists, [])
    assert normal_spelling("size : 10 ") == "size:10"
    assert normal_spelling("Ratio 3: 2") == "Ratio 3: 2"  # a space in the facet: a free tag


def test_rtag_index_prints_and_records_the_merges(tmp_path):
    path = write_catalog(tmp_path / "c.csv", ROWS)
    result = ok("index", path, "--name", tmp_path / "idx", "--tags-col", "tags", "--facet-cols", "gender",
                "--text-model", TEXT_SPEC, "--image-model", "none")
    assert "merged 6 tag spelling(s) differing only in case or spacing" in result.stderr
    assert "merged_spellings: 'Cotton' -> 'cotton' (1 product)" in result.stderr
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["report"]["merged_spellings"], manifest["report"]["merged_tags"]) == (6, 6)
    assert {t["tag"]: t["count"] for t in manifest["vocabulary"]} == {"cotton": 4, "summer": 3, "gender:Men": 3, "gender:WOMEN": 2}
