"""build.py and languages: the manifest records the catalog's language, a catalog not in
English gets the multilingual text model by default, a catalog indexed in English tags
Chinese titles (cross-lingual), and a mixed-language catalog is indexed and tagged."""

from __future__ import annotations

import pytest
from zh_catalog import en_rows, write_zh_catalog, zh_rows

from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.errors import CatalogError
from retrieval_tagger.pipeline import Tagger

SPEC = CatalogSpec(facet_cols=["gender", "colour", "article"])


def test_the_language_is_detected_recorded_and_picks_the_default_text_model(tmp_path):
    path = write_zh_catalog(tmp_path / "zh.csv")
    man = build_index(path, tmp_path / "auto", SPEC, BuildOptions(image_model="none", progress=False))
    assert man["language"]["code"] == "zh" and man["language"]["how"] == "detected" and man["language"]["cjk_share"] > 0.5
    assert man["encoders"]["text"]["spec"] == "use-multilingual"
    given = build_index(path, tmp_path / "given", SPEC, BuildOptions(text_model="hash:64", image_model="none", language="ja", progress=False))
    assert given["language"]["code"] == "ja" and given["language"]["how"] == "given"
    assert given["encoders"]["text"]["spec"] == "hash:64"  # a model named is kept whatever the language
    with pytest.raises(CatalogError, match="--language"):
        build_index(path, tmp_path / "bad", SPEC, BuildOptions(text_model="hash:64", image_model="none", language="chinese"))


@pytest.fixture(scope="module")
def english_tagger(tmp_path_factory):
    folder = tmp_path_factory.mktemp("en")
    path = write_zh_catalog(folder / "en.csv", en_rows())
    man = build_index(path, folder / "index", SPEC, BuildOptions(image_model="none", text_model="use-multilingual", progress=False))
    assert man["language"]["code"] == "en"
    return Tagger.load(folder / "index")


def test_a_catalog_tagged_in_english_tags_chinese_titles(english_tagger):
    rows = zh_rows()
    english = {r["id"].replace("e", "z"): r for r in en_rows()}
    results = english_tagger.tag([{"id": r["id"], "text": r["title"]} for r in rows], weights={"text": 1.0}, k=5)
    hits = {facet: 0 for facet in SPEC.facet_cols}
    for result in results:
        predicted = dict(t["tag"].split(":", 1) for t in result.tags)
        for facet in hits:
            hits[facet] += predicted.get(facet) == english[result.id][facet]
    assert all(n >= 0.75 * len(rows) for n in hits.values()), hits


def test_a_mixed_language_catalog_is_indexed_and_tagged(tmp_path):
    """Chinese and English titles, each with its own language's facet values."""
    path = write_zh_catalog(tmp_path / "mixed.csv", zh_rows() + en_rows())
    man = build_index(path, tmp_path / "index", SPEC, BuildOptions(image_model="none", text_model="use-multilingual", progress=False))
    assert man["language"]["code"] == "zh" and man["counts"]["products"] == 70
    (result,) = Tagger.load(tmp_path / "index").tag([{"id": "q", "text": "Puma 女士白色衬衫"}], weights={"mentions": 1.0}, min_score=0.5)
    assert {t["tag"] for t in result.tags} == {"gender:女士", "colour:白色", "article:衬衫"}
