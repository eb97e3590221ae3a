"""The tagging defaults live in a module that imports nothing (so front-ends show them
without loading numpy or a model), and tagging without options uses them."""

from __future__ import annotations

import ast
import inspect

import pytest

from retrieval_tagger import tag_defaults
from retrieval_tagger.tag_defaults import DIVERSITY, MIN_SCORE, TOP_N


def test_the_module_imports_nothing():
    tree = ast.parse(inspect.getsource(tag_defaults))
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


@pytest.fixture(scope="module")
def tagger(both_tagger):
    return both_tagger


def test_tagging_without_options_uses_these_defaults(tagger):
    query = [{"id": "q", "text": "green wool hat"}]
    (default,) = tagger.tag(query)
    assert default == tagger.tag(query, top_n=TOP_N, min_score=MIN_SCORE, diversity=DIVERSITY)[0]
    # the cut-offs bind: with others, more tags come back
    (everything,) = tagger.tag(query, top_n=50, min_score=0.0, exclusive=False, temperature=1.0)
    assert len(everything.tags) > TOP_N >= len(default.tags) > 0
    assert min(t["score"] for t in default.tags) >= MIN_SCORE > min(t["score"] for t in everything.tags)
