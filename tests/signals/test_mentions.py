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
