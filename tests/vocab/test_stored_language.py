"""Stored vocabularies in another language: prompt templates and the taxonomy node phrase
follow the language of the vocabulary's names (bare names where a language has no
templates), whatever the catalog's language."""

from __future__ import annotations

import pytest
from zh_catalog import write_zh_catalog

from retrieval_tagger.vocab.files import Entry, read_vocab_file
from retrieval_tagger.vocab.stored import DEFAULT_TEMPLATES, TEMPLATES, entry_texts


def test_the_node_phrase_is_written_in_the_vocabulary_language():
    node = Entry(tag="鞋类 > 运动鞋", name="运动鞋", parent=0)
    assert entry_texts(node, "鞋类", (), "zh") == ["运动鞋，一种鞋类"]
    assert entry_texts(Entry(tag="A > b", name="b", parent=0), "A", ()) == ["b, a kind of A"]
    assert entry_texts(Entry(tag="Schuhe > Laufschuhe", name="Laufschuhe", parent=0), "Schuhe", (), "de") == ["Schuhe > Laufschuhe"]
    assert entry_texts(Entry(tag="colour:黑色", name="黑色"), "", TEMPLATES["zh"], "zh") == ["黑色", "黑色的照片", "黑色的商品照片", "黑色商品"]


def test_a_vocabulary_file_knows_its_language_from_its_names(tmp_path):
    (tmp_path / "zh.txt").write_text("colour:黑色\ncolour:白色\narticle:Nike 跑步鞋\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("colour:black\ncolour:white\n", encoding="utf-8")
    assert read_vocab_file(tmp_path / "zh.txt").language == "zh"
    assert read_vocab_file(tmp_path / "en.txt").language == "en"


@pytest.fixture(scope="module")
def zh_tagger(tmp_path_factory):
    from retrieval_tagger.build import BuildOptions, build_index
    from retrieval_tagger.catalog import CatalogSpec
    from retrieval_tagger.pipeline import Tagger

    folder = tmp_path_factory.mktemp("zh")
    build_index(write_zh_catalog(folder / "zh.csv"), folder / "index", CatalogSpec(facet_cols=["gender", "colour", "article"]),
                BuildOptions(text_model="hash:64", image_model="none", progress=False))
    return Tagger.load(folder / "index")


@pytest.mark.parametrize("lines, language, templates", [
    ("colour:黑色\ncolour:红色\n", "zh", TEMPLATES["zh"]),
    ("colour:black\ncolour:red\n", "en", DEFAULT_TEMPLATES),  # an English vocabulary on a Chinese catalog
])
def test_templates_follow_the_vocabulary_not_the_catalog(zh_tagger, tmp_path, lines, language, templates):
    (tmp_path / "v.txt").write_text(lines, encoding="utf-8")
    man = zh_tagger.add_vocab(tmp_path / "v.txt", f"v-{language}")
    assert man["language"] == language and man["templates"] == list(templates)


def test_an_english_catalog_keeps_english_templates_and_a_chinese_vocabulary_gets_chinese_ones(vocab_tagger, tmp_path):
    assert vocab_tagger.index.vocabs  # the fixture's English vocabularies
    (tmp_path / "zh.txt").write_text("colour:黑色\ncolour:红色\n", encoding="utf-8")
    man = vocab_tagger.add_vocab(tmp_path / "zh.txt", "zh")
    assert man["language"] == "zh" and man["templates"] == list(TEMPLATES["zh"])
    (tmp_path / "en.txt").write_text("colour:black\ncolour:red\n", encoding="utf-8")
    assert vocab_tagger.add_vocab(tmp_path / "en.txt", "en")["templates"] == list(DEFAULT_TEMPLATES)
