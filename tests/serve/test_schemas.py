"""The /v1 request bodies: unknown fields and out-of-range options are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from retrieval_tagger.pipeline import TagOptions
from retrieval_tagger.serve.schemas import MAX_PRODUCTS, TagOptionsIn, TagRequest


def test_options_given_are_tagging_options():
    given = TagOptionsIn(top_n=3, vocab="v", precision=0.9).given()
    assert given == {"top_n": 3, "vocab": "v", "precision": 0.9}
    TagOptions.from_kwargs(**given)  # every API option is one the library knows
    assert set(TagOptionsIn.model_fields) <= set(TagOptions.__dataclass_fields__)


@pytest.mark.parametrize("body", [
    {"products": [{"title": "x", "colour": "red"}]},
    {"products": [{"title": "x"}], "options": {"top_n": 0}},
    {"products": [{"title": "x"}], "options": {"mode": "other"}},
    {"products": [{"title": "x"}], "options": {"diversity": 2}},
    {"products": []},
    {"products": [{"title": "x"}] * (MAX_PRODUCTS + 1)},
])
def test_invalid_requests(body):
    with pytest.raises(ValidationError):
        TagRequest.model_validate(body)
