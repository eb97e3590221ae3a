"""The mentions signal: tag values named in the product text, longest first."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.tags import TagSet


def test_mentions_prefer_the_longest_value_named_in_the_text():
    from retrieval_tagger.signals.mentions import MentionMatcher, words

    vocab = TagSet(["colour:Blue", "colour:Navy Blue", "gender:Men", "gender:Women", "article:Casual Shoes", "cotton"], [1] * 6)
    scores = MentionMatcher(vocab).scores(["Turtle Men Navy Blue Casual Shoe", "Women's COTTON dress", ""])
    np.testing.assert_allclose(scores[0], [0.5, 1.0, 1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(scores[1], [0.0, 0.0, 0.0, 1.0, 0.0, 1.0])  # "Women" is not "Men"
    np.testing.assert_allclose(scores[2], 0.0)
    assert words("Shoes & T-Shirts") == words("shoe t shirt") == ["shoe", "t", "shirt"]
    assert words("Dress") == ["dress"] and words("Sunglasses") == words("SUNGLASSES")


@pytest.fixture(scope="module")
def tagger(both_tagger):
    return both_tagger


def test_mentions_reach_the_tags_through_the_pipeline(tagger):
    # a weight on mentions alone: the colour and article named in the text win
    (result,) = tagger.tag([{"id": "m", "text": "a green hat"}], weights={"mentions": 1.0}, min_score=0.5)
    assert {t["tag"] for t in result.tags} == {"colour:green", "article:hat"}


def test_chinese_values_are_found_in_chinese_titles():
    """Hand-checked titles: the title is segmented (rjieba), so a value inside a run of
    Chinese characters is found, a longer value wins its group, and pink is not red."""
    from retrieval_tagger.signals.mentions import MentionMatcher

    vocab = TagSet(["colour:黑色", "colour:红色", "colour:粉红色", "colour:藏青色", "gender:男士", "gender:女士",
                    "article:跑步鞋", "article:鞋", "article:连衣裙", "brand:Puma"], [1] * 10)
    scores = MentionMatcher(vocab).scores(["Puma 男士黑色跑步鞋", "女士粉红色连衣裙", "【新款】藏青色衬衫", "PUMA Black Shoes"])
    np.testing.assert_allclose(scores[0], [1, 0, 0, 0, 1, 0, 1, 0.5, 0, 1])  # 跑步鞋 (2 words) over 鞋
    np.testing.assert_allclose(scores[1], [0, 0, 1, 0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_allclose(scores[2], [0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(scores[3], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1])  # an English title: only the brand


def test_chinese_values_are_found_by_bigrams_without_rjieba(monkeypatch):
    from retrieval_tagger import language
    from retrieval_tagger.signals.mentions import MentionMatcher

    monkeypatch.setattr(language, "_jieba", lambda: None)
    vocab = TagSet(["colour:黑色", "colour:白色", "article:跑步鞋", "article:衬衫"], [1] * 4)
    np.testing.assert_allclose(MentionMatcher(vocab).scores(["男士黑色跑步鞋"]), [[1, 0, 1, 0]])


def test_a_mixed_language_catalog_is_matched_word_by_word():
    """English tags in a Chinese title and Chinese tags in an English one."""
    from retrieval_tagger.signals.mentions import MentionMatcher

    vocab = TagSet(["brand:Nike", "article:Running Shoes", "colour:黑色", "colour:Black"], [1] * 4)
    scores = MentionMatcher(vocab).scores(["Nike Running Shoes 黑色", "NIKE 男士黑色跑步鞋"])
    np.testing.assert_allclose(scores, [[1, 1, 1, 0], [1, 0, 1, 0]])
