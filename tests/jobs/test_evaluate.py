"""``evaluate`` and ``compare`` on the tiny index, and their reports."""

from __future__ import annotations

import pytest

from retrieval_tagger.catalog import read_catalog
from retrieval_tagger.jobs.evaluate import evaluate, format_report
from retrieval_tagger.metrics import ranking_metrics


def test_format_report_lists_every_metric_and_facet():
    metrics = {**ranking_metrics([["a"]], [["a"]], ks=(1,)), "facet_accuracy": 0.5,
               "facets": {"colour": {"accuracy": 0.5, "count": 2}}}
    text = format_report(metrics)
    assert "products evaluated: 1" in text
    assert "P@1=1.0000" in text and "nDCG@1=1.0000" in text
    assert "facet accuracy: 0.5000" in text
    assert "colour" in text


def test_evaluate_on_the_tiny_index(text_index, catalog_csv, facet_spec):
    from retrieval_tagger.pipeline import Tagger

    tagger = Tagger.load(text_index)
    products, _ = read_catalog(catalog_csv, facet_spec, purpose="query")

    # neighbours only: the lexical signal's out-of-fold scores get every toy product right
    held_out = evaluate(tagger, products, ks=(1, 3), k=4, weights={"text": 1.0})
    with_self = evaluate(tagger, products, ks=(1, 3), k=4, exclude_self=False, weights={"text": 1.0})

    assert held_out["evaluated"] == 30
    # the other four "<colour> cotton shirt"s share the article and the material
    assert held_out["facets"]["article"]["accuracy"] == pytest.approx(1.0)
    assert held_out["facets"]["colour"]["count"] == 30
    # a product that is its own nearest neighbour gets its own tags back
    assert with_self["facet_accuracy"] == pytest.approx(1.0)
    assert with_self["facet_accuracy"] > held_out["facet_accuracy"]
    for key in ("P@1", "R@3", "F1@3", "nDCG@3"):
        assert 0.0 <= held_out[key] <= with_self[key] <= 1.0


def test_a_report_of_free_tags_only_names_no_facet_accuracy():
    text = format_report({"evaluated": 2, "P@1": 0.5, "facet_accuracy": None, "facets": {}})
    assert "P@1=0.5000" in text and "facet accuracy" not in text and "free tags only" in text
