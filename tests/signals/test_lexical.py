"""The lexical signal on a built index: catalog products queried as themselves get their
out-of-fold scores, new products the full model's; the saved model scores like the one
trained; scores do not depend on batch-mates; an index built without it opens and tags."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.catalog import read_catalog
from retrieval_tagger.index.reader import open_index
from retrieval_tagger.queries import Queries
from retrieval_tagger.signals import lexical_train, registry
from retrieval_tagger.signals.lexical import Predictor


def _queries(texts: list[str], self_rows=None) -> Queries:
    n = len(texts)
    return Queries(n, np.arange(n), texts, None, np.zeros(0, np.int64), self_rows=None if self_rows is None else np.asarray(self_rows))


def _score(index, queries: Queries) -> np.ndarray:
    signal = registry.get("lexical")
    return signal.score(index, queries, {}, signal.prepare(index), keep=False).scores


@pytest.fixture(scope="module")
def opened(text_index):
    return open_index(text_index)


@pytest.fixture(scope="module")
def catalog_products(catalog_csv, facet_spec):
    return read_catalog(catalog_csv, facet_spec)[0]


def test_the_index_holds_the_model_and_the_signal_is_fitted(opened):
    assert "lexical" in registry.signals_of(opened)
    section = opened.manifest["lexical"]
    assert section["features"] == opened.models["lexical"].coef.shape[0] and section["bytes"] > 0
    assert "lexical" in opened.manifest["fusion"]["weights"]["default"]


def test_catalog_rows_get_out_of_fold_scores_and_new_products_the_full_models(opened, catalog_products):
    texts = [p.text for p in catalog_products]
    rows = [opened.id_rows[p.id] for p in catalog_products]
    as_themselves = _score(opened, _queries(texts, rows))
    as_new = _score(opened, _queries(texts, [-1] * len(texts)))
    assert np.array_equal(as_themselves, opened.models["lexical"].oof[rows].toarray())
    assert np.array_equal(as_new, _score(opened, _queries(texts)))
    assert not np.allclose(as_themselves, as_new, atol=1e-4)


def test_the_saved_model_scores_like_the_trained_one(opened, catalog_products):
    trained = lexical_train.train([p.text for p in catalog_products], [p.id for p in catalog_products], opened.product_tags, opened.vocab)
    texts = ["green silk dress", "a black leather shoe", "unseen words only"]
    assert np.array_equal(Predictor(trained, opened.vocab).scores(texts), _score(opened, _queries(texts)))
    assert np.array_equal(trained.oof.toarray(), opened.models["lexical"].oof.toarray())


def test_scores_do_not_depend_on_batch_mates(opened, catalog_products):
    texts = [p.text for p in catalog_products] + ["green silk dress", "red wool hat with a bag"]
    together = _score(opened, _queries(texts))
    alone = np.vstack([_score(opened, _queries([t])) for t in texts])
    assert np.array_equal(together, alone)


def test_an_index_built_without_it_opens_and_tags(tmp_path, catalog_csv, facet_spec, encoders):
    from retrieval_tagger.build import BuildOptions, build_index
    from retrieval_tagger.pipeline import Tagger

    manifest = build_index(catalog_csv, tmp_path / "old", facet_spec, BuildOptions(lexical=False), encoders=encoders)
    assert "lexical" not in manifest
    assert not any(name.startswith("lexical") for name in manifest["files"])
    tagger = Tagger.load(tmp_path / "old")
    assert tagger.index.models == {} and "lexical" not in registry.signals_of(tagger.index)
    first = tagger.tag([{"id": "q", "title": "green silk dress"}])[0]
    assert first.tags and first.error is None


def test_the_fusion_fit_and_the_reranker_training_see_out_of_fold_scores(opened, catalog_products):
    from retrieval_tagger.rerank import features, training
    from retrieval_tagger.signals import fit
    from retrieval_tagger.tags import tag_groups

    rows = np.asarray([opened.id_rows[p.id] for p in catalog_products])
    oof = opened.models["lexical"].oof
    has = {"text": np.ones(len(rows), bool), "words": np.ones(len(rows), bool)}
    sample = fit.FitSample(rows, {}, has, [p.text for p in catalog_products], opened.product_tags[rows].toarray() > 0, tag_groups(opened.vocab))
    signal = registry.get("lexical")
    assert np.array_equal(signal.fit(opened, sample, signal.prepare(opened)).scores, oof[rows].toarray())

    names = features.feature_names(opened)
    examples = training.leave_one_out(opened, {p.id: p.text for p in catalog_products}, names, None)
    tagged = np.flatnonzero(np.diff(opened.product_tags.indptr) > 0)
    want = np.asarray(oof[tagged[examples.query], examples.col]).ravel()
    assert np.array_equal(examples.x[:, names.index("lexical_score")], want)
