"""``Tagger.tag`` at a chosen precision and without silently dropped facets: every facet
answered at default settings, tags below their threshold marked review (or dropped when
asked), thresholds from the index's tables, the reranker only where it helped, and a
taxonomy path that falls back to the ancestors that reach the threshold."""

from __future__ import annotations

import numpy as np
import pytest
from toy_catalog import VOCAB_QUERIES, edit_manifest

from retrieval_tagger import precision
from retrieval_tagger.catalog import read_catalog
from retrieval_tagger.errors import RtagError
from retrieval_tagger.pipeline import Tagger, TagOptions
from retrieval_tagger.tags import split_facet

ODD = [{"id": "nonsense", "text": "zzz qqq"}, {"id": "one-word", "text": "canvas"}, {"id": "empty", "text": ""}]


@pytest.fixture(scope="module")
def text_tagger(text_index):
    return Tagger.load(text_index)


def facets_of(result) -> set[str]:
    return {split_facet(t["tag"])[0] for t in result.tags} - {None}


@pytest.fixture(scope="module")
def products(catalog_csv, facet_spec):
    found, _ = read_catalog(catalog_csv, facet_spec, purpose="query")
    return found + ODD


def test_no_output_misses_a_facet_at_default_settings(both_tagger, products):
    for exclude_self in (False, True):
        results = both_tagger.tag(products, exclude_self=exclude_self)
        tagged = [r for r in results if r.error is None]
        assert len(tagged) == len(products) - 1  # the empty one cannot be tagged
        assert all(facets_of(r) == {"colour", "article"} for r in tagged)


def test_a_facet_below_min_score_is_marked_not_dropped(both_tagger, products):
    results = both_tagger.tag(products, min_score=0.99)
    tagged = [r for r in results if r.error is None]
    assert all(facets_of(r) == {"colour", "article"} for r in tagged)
    low = [t for r in tagged for t in r.tags if t["score"] < 0.99]
    assert low and all(t.get("review") for t in low)
    assert all(split_facet(t["tag"])[0] for t in low)  # free tags below min_score are left out
    dropped = both_tagger.tag(products, min_score=0.99, drop_review=True)
    assert all(t["score"] >= 0.99 and "review" not in t for r in dropped for t in r.tags)


def test_an_explicit_top_n_may_leave_facets_out(both_tagger):
    (result,) = both_tagger.tag([{"id": "q", "text": "red cotton shirt"}], top_n=1)
    assert len(result.tags) == 1


def test_precision_marks_tags_below_their_facets_threshold(text_tagger, products, monkeypatch):
    # made-up tables: colour is trusted from 0.6, article from 0.3, free tags never
    made = {"colour": precision.Curve(np.array([0.9, 0.6, 0.2]), np.array([1.0, 0.96, 0.8]), np.array([0.2, 0.5, 1.0]), 10),
            "article": precision.Curve(np.array([0.3, 0.1]), np.array([0.97, 0.9]), np.array([0.5, 1.0]), 10),
            precision.FREE: precision.Curve(np.array([0.9]), np.array([0.5]), np.array([1.0]), 10)}
    monkeypatch.setattr(text_tagger, "fused_curves", made)
    floor = text_tagger.thresholds(TagOptions.from_kwargs(precision=0.95))
    vocab = text_tagger.index.vocab
    assert set(floor[vocab.facets["colour"]]) == {0.6} and set(floor[vocab.facets["article"]]) == {0.3}
    assert np.isinf(floor[vocab.free]).all()
    results = text_tagger.tag(products, precision=0.95)
    for r in results:
        for t in r.tags:
            facet = split_facet(t["tag"])[0]
            limit = {"colour": 0.6, "article": 0.3}.get(facet, np.inf)
            assert bool(t.get("review")) == (t["score"] < limit), t
    kept = text_tagger.tag(products, precision=0.95, drop_review=True)
    assert all("review" not in t and split_facet(t["tag"])[0] for r in kept for t in r.tags)


def test_thresholds_come_from_the_index_and_never_fall_below_min_score(text_tagger):
    vocab = text_tagger.index.vocab
    floor = text_tagger.thresholds(TagOptions.from_kwargs(precision=0.9, min_score=0.05))
    for name, cols in precision.groups(vocab):
        assert set(floor[cols]) == {max(0.05, text_tagger.fused_curves[name].threshold(0.9))}
    assert set(text_tagger.thresholds(TagOptions.from_kwargs(min_score=0.2))) == {0.2}


def test_an_index_without_tables_refuses_precision_and_tags_otherwise(text_index_copy):
    edit_manifest(text_index_copy, lambda m: m.pop("precision"))
    tagger = Tagger.load(text_index_copy)
    with pytest.raises(RtagError, match=r"no precision table for colour, article, \*free\*: rebuild the index"):
        tagger.tag(VOCAB_QUERIES, precision=0.9)
    assert all(r.tags for r in tagger.tag(VOCAB_QUERIES))


@pytest.mark.parametrize("value", [0.0, -0.1, 1.5])
def test_precision_outside_0_1_is_refused(value):
    with pytest.raises(RtagError, match="precision must lie in"):
        TagOptions.from_kwargs(precision=value)


def test_the_reranker_rescores_only_the_facets_where_it_helped(reranked, products, monkeypatch):
    folder, info = reranked
    tagger = Tagger.load(folder)
    vocab = tagger.index.vocab
    for name, cols in precision.groups(vocab):
        assert tagger.reranked_columns[cols].all() == info["helps"][name]["use"]
    fused, *_ = tagger.score(products, rerank=False)
    everywhere = np.ones(len(vocab), bool)
    monkeypatch.setattr(tagger, "reranked_columns", everywhere)
    reranked_all, *_ = tagger.score(products)
    colour = np.zeros(len(vocab), bool)
    colour[vocab.facets["colour"]] = True
    monkeypatch.setattr(tagger, "reranked_columns", colour)
    mixed, *_ = tagger.score(products)
    np.testing.assert_allclose(mixed[:, colour], reranked_all[:, colour])
    np.testing.assert_allclose(mixed[:, ~colour], fused[:, ~colour])
    monkeypatch.setattr(tagger, "reranked_columns", np.zeros(len(vocab), bool))
    opts = TagOptions.from_kwargs()
    assert not tagger.reranks(opts)
    weights = {name: np.zeros(len(vocab)) for name in tagger.signals}
    weights["text"][:] = 1.0
    assert tagger._wanted(opts, weights)[0] == {"text"}  # unused, the reranker needs no signal


def test_reranked_facets_use_the_rerankers_tables(reranked):
    folder, info = reranked
    tagger = Tagger.load(folder)
    floor = tagger.thresholds(TagOptions.from_kwargs(precision=0.9, min_score=0.0))
    for name, cols in precision.groups(tagger.index.vocab):
        table = tagger.reranker_curves if info["helps"][name]["use"] else tagger.fused_curves
        assert set(floor[cols]) == {max(0.0, table[name].threshold(0.9))}
    assert tagger.thresholds(TagOptions.from_kwargs(precision=0.9, min_score=0.0, rerank=False)).tolist() == \
        [max(0.0, tagger.fused_curves[n].threshold(0.9)) for n in _group_of_columns(tagger.index.vocab)]


def _group_of_columns(vocab) -> list[str]:
    names = [""] * len(vocab)
    for name, cols in precision.groups(vocab):
        for c in cols:
            names[c] = name
    return names


def test_an_uncertain_taxonomy_leaf_falls_back_to_its_ancestors(vocab_tagger):
    plain = vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", mode="auto", min_score=0.0)
    path = max((r.tags for r in plain), key=lambda tags: tags[0]["score"] - tags[-1]["score"])
    scores = [t["score"] for t in path]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    target = (scores[0] + scores[-1]) / 2
    marked = vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", mode="auto", min_score=0.0, precision=target)
    for result in marked:
        flags = [bool(t.get("review")) for t in result.tags]
        assert flags == sorted(flags)  # trusted ancestors first, then the uncertain part of the path
        assert all(f == (t["score"] < target) for f, t in zip(flags, result.tags))
    cut = vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", mode="auto", min_score=0.0, precision=target, drop_review=True)
    for before, after in zip(marked, cut):
        assert after.tags == [t for t in before.tags if not t.get("review")]
