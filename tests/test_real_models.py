"""The real packaged models, once each: MiniLM for text, rtag-lite for images."""

from __future__ import annotations

import shutil

import pytest

from conftest import TEXT_SPEC, catalog_rows
from retrieval_tagger.index.build import build_index
from retrieval_tagger.pipeline import Tagger


@pytest.fixture(scope="module")
def minilm_tagger(tmp_path_factory, catalog_csv, facet_spec):
    out = tmp_path_factory.mktemp("minilm") / "idx"
    man = build_index(catalog_csv, out, facet_spec, text_model="minilm", image_model="none")
    assert man["encoders"]["text"]["dim"] == 384
    assert "image" not in man["stores"]
    return Tagger.load(out)


def test_minilm_tags_a_query_with_the_catalog_words(minilm_tagger):
    (result,) = minilm_tagger.tag([{"id": "q", "text": "blue denim jeans"}], top_n=4)
    tags = [t["tag"] for t in result.tags]
    assert tags[0] in {"article:jeans", "denim"}
    assert {"article:jeans", "denim", "colour:blue"} <= set(tags)


@pytest.mark.parametrize(
    "query, article",
    [("trousers", "jeans"), ("sneakers", "shoes"), ("boots", "shoes"), ("gown", "dress")],
)
def test_minilm_understands_words_the_catalog_never_uses(minilm_tagger, query, article):
    # no word or trigram in common with the catalog titles: the hashing encoder could not do this
    (result,) = minilm_tagger.tag([{"id": "q", "text": query}], top_n=4)
    best_article = next(t["tag"] for t in result.tags if t["tag"].startswith("article:"))
    assert best_article == f"article:{article}"


def test_rtag_lite_finds_the_product_of_a_duplicate_image(tmp_path, catalog_csv, catalog_dir, facet_spec):
    out = tmp_path / "idx"
    man = build_index(catalog_csv, out, facet_spec, text_model=TEXT_SPEC, image_model="rtag-lite")
    assert man["encoders"]["image"]["spec"] == "rtag-lite"
    assert man["counts"]["with_image"] == 30
    tagger = Tagger.load(out)

    rows = catalog_rows()
    queries = []
    for row in rows:  # byte-identical copies under new names, no text: image neighbours only
        copy = tmp_path / f"copy_of_{row['id']}.png"
        shutil.copy(catalog_dir / row["image"], copy)
        queries.append({"id": f"q{row['id']}", "image": str(copy)})

    # image neighbours alone: the solid-colour squares make colour histograms ambiguous by design
    nearest = tagger.tag(queries, k=1, weights={"image": 1.0})
    voted = tagger.tag(queries, k=20, weights={"image": 1.0})  # the duplicate must dominate the vote

    for row, one, many in zip(rows, nearest, voted):
        expected = set(row["tags"].split("|")) | {f"colour:{row['colour']}", f"article:{row['article']}"}
        assert {t["tag"] for t in one.tags} == expected, row["id"]
        assert one.tags[0]["score"] == 1.0
        facets = [t["tag"] for t in many.tags if ":" in t["tag"]]
        assert set(facets) == {f"colour:{row['colour']}", f"article:{row['article']}"}, row["id"]
