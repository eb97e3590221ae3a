"""benchmarks/zh: the glossary covers the facet values it names, once each, and titles are
derived by replacing the words that name facet values, brands kept."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "zh"))
import derive_titles  # noqa: E402

GLOSSARY = derive_titles.load_glossary()
TABLE = derive_titles.phrase_table(GLOSSARY)


def test_the_glossary_has_one_chinese_name_per_value_within_each_facet():
    assert {r["facet"] for r in GLOSSARY} == set(derive_titles.FACETS)
    assert not [k for k, n in Counter((r["facet"], r["value"]) for r in GLOSSARY).items() if n > 1]
    assert not [k for k, n in Counter((r["facet"], r["zh"]) for r in GLOSSARY).items() if n > 1]
    assert all(r["zh"].strip() and r["zh"] != r["value"] for r in GLOSSARY)
    assert len([r for r in GLOSSARY if r["facet"] == "articleType"]) == 139


def test_titles_are_derived_word_by_word_and_brands_stay():
    derive = lambda title: derive_titles.derive(title, TABLE)  # noqa: E731
    assert derive("Red Chief Men Brown Sandals") == ("Red Chief 男士棕色凉鞋", 3)
    assert derive("Turtle Check Men Navy Blue Shirt") == ("Turtle Check 男士藏青色衬衫", 4)
    assert derive("ADIDAS Women Fresh Graphic White T-shirt") == ("ADIDAS 女士 Fresh Graphic 白色 T恤", 3)
    assert derive("Nike Men's Watches") == ("Nike 男士手表", 2)  # possessive and plural folded
    assert derive("Black Flip-Flops") == ("黑色人字拖", 2)  # no gender word: no brand to keep
    assert derive("Lakme Absolute") == ("Lakme Absolute", 0)
