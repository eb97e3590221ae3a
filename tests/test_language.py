"""language.py: detection by script, the --language setting, CJK punctuation, and word
splitting (rjieba for Han, bigrams without it or for kana; English exactly as before)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from zh_catalog import zh_rows

from retrieval_tagger import language
from retrieval_tagger.catalog import clean_text
from retrieval_tagger.errors import CatalogError

DEMO = Path(__file__).resolve().parents[1] / "demo" / "fashion_sample" / "catalog.csv"


def test_detection_tells_the_scripts_apart():
    assert language.detect([r["title"] for r in zh_rows()])[0] == "zh"  # English brands in every title
    assert language.detect(["Puma Men Black Running Shoes", "Women Red Dress"]) == ("en", 0.0)
    assert language.detect(["ナイキ メンズ ランニングシューズ 黒"])[0] == "ja"
    assert language.detect(["나이키 남성 러닝화 검정"])[0] == "ko"
    assert language.detect(["", "123 456"]) == ("en", 0.0)  # nothing to go on
    # a catalog mostly in English with a few Chinese titles stays English
    code, share = language.detect(["Puma Men Black Running Shoes"] * 9 + ["男士黑色跑步鞋"])
    assert code == "en" and 0 < share < language.CJK_SHARE


def test_the_setting_is_auto_or_a_code_and_is_recorded_with_how_it_was_chosen():
    titles = [r["title"] for r in zh_rows()]
    assert language.resolve("auto", titles)["code"] == "zh" and language.resolve(None, titles)["how"] == "detected"
    assert language.resolve("EN", titles) == {"code": "en", "how": "given", "cjk_share": language.resolve("auto", titles)["cjk_share"]}
    for bad in ("english", "z", "zh-CN"):
        with pytest.raises(CatalogError, match="--language"):
            language.check_setting(bad)


def test_cjk_punctuation_is_folded_and_full_width_forms_by_nfkc():
    assert clean_text("【包邮】Ｎｉｋｅ　男士黑色跑步鞋，４２码。") == "[包邮]Nike 男士黑色跑步鞋,42码."
    assert language.fold_punctuation("《新款》「女士」连衣裙、衬衫") == '"新款""女士"连衣裙,衬衫'
    assert language.fold_punctuation("Men's T-Shirt (2 pack)") == "Men's T-Shirt (2 pack)"


def test_chinese_runs_are_segmented_into_words():
    assert language.words("Puma 男士黑色跑步鞋") == ["puma", "男士", "黑色", "跑步", "鞋"]
    assert language.words("藏青色衬衫") == ["藏青色", "衬衫"]
    assert "红色" not in language.words("粉红色连衣裙")  # pink is not red


def test_without_rjieba_chinese_falls_back_to_bigrams_and_kana_always_does(monkeypatch):
    assert language.words("メンズ黒") == ["メン", "ンズ", "ズ黒"]
    monkeypatch.setattr(language, "_jieba", lambda: None)
    assert language.words("男士黑色跑步鞋 Nike") == ["男士", "士黑", "黑色", "色跑", "跑步", "步鞋", "nike"]
    assert language.words("鞋") == ["鞋"]


def test_english_words_and_cleaning_are_unchanged():
    """On the demo catalog's titles (and awkward ASCII), words are the old ``\\w+`` split and
    cleaning changes nothing beyond NFKC and whitespace."""
    with DEMO.open(encoding="utf-8", newline="") as fh:
        titles = [row["title"] for row in csv.DictReader(fh)]
    titles += ["Men's T-Shirt_2 (x3) café naïve", "über straße 100%"]
    for title in titles:
        assert language.words(title) == re.findall(r"\w+", title.lower())
        assert language.fold_punctuation(title) == title
