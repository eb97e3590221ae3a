"""Training the lexical model: a word that decides a facet value is learned, free tags get
one-vs-rest classifiers, and catalog products get out-of-fold scores from models that did
not see them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from retrieval_tagger.signals import lexical_train
from retrieval_tagger.signals.lexical import Predictor
from retrieval_tagger.tags import TagSet

FILLER = ["soft", "new", "classic", "light", "best", "warm", "small", "bright"]


def _catalog(n: int = 60):
    """Titles where the brand word (zorbex or quantil) alone decides the ``kind`` facet;
    filler words are shared by both kinds. Every third product has the free tag ``gift``
    and the word "present"."""
    texts, tags = [], []
    for i in range(n):
        brand, kind = ("zorbex", "kind:toy") if i % 2 else ("quantil", "kind:game")
        gift = i % 3 == 0
        texts.append(f"{brand} {FILLER[i % len(FILLER)]} {FILLER[(i // 3) % len(FILLER)]}" + (" present" if gift else ""))
        tags.append([kind] + (["gift"] if gift else []))
    vocab = TagSet.from_tag_lists(tags)
    indptr, indices = vocab.encode_lists(tags)
    product_tags = sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(n, len(vocab)))
    return texts, [f"p{i}" for i in range(n)], product_tags, vocab


@pytest.fixture(scope="module")
def trained():
    texts, ids, product_tags, vocab = _catalog()
    return lexical_train.train(texts, ids, product_tags, vocab), vocab


def test_a_word_that_decides_a_facet_value_is_learned(trained):
    arrays, vocab = trained
    scores = Predictor(arrays, vocab).scores(["zorbex warm", "quantil warm", "soft present quantil"])
    toy, game, gift = (vocab.index[t] for t in ("kind:toy", "kind:game", "gift"))
    assert scores[0, toy] > 0.8 and scores[1, game] > 0.8
    assert scores[2, gift] > 0.5 > scores[1, gift]
    # a facet's scores are its classifier's probabilities: they sum to 1 (up to the floor)
    assert scores[:, [toy, game]].sum(axis=1) == pytest.approx(1.0, abs=2e-3)


def test_out_of_fold_scores_come_from_models_that_did_not_see_the_product(trained):
    arrays, vocab = trained
    texts, ids, _, _ = _catalog()
    full = Predictor(arrays, vocab).scores(texts)
    oof = arrays.oof.toarray()
    assert oof.shape == full.shape and (oof.sum(axis=1) > 0).all()
    assert not np.allclose(oof, full, atol=1e-4)
    # the fold models are the same recipe on 4/5 of the data: they still get the brands right
    toy = vocab.index["kind:toy"]
    assert ((oof[:, toy] > 0.5) == np.asarray([i % 2 == 1 for i in range(len(texts))])).all()
    folds = lexical_train.fold_of(ids, arrays.params["folds"])
    assert set(folds.tolist()) == set(range(arrays.params["folds"]))


def test_a_product_without_text_neither_trains_nor_gets_out_of_fold_scores():
    texts, ids, product_tags, vocab = _catalog()
    texts[4] = ""
    arrays = lexical_train.train(texts, ids, product_tags, vocab)
    assert arrays.oof[4].nnz == 0 and arrays.oof[5].nnz > 0


def test_rare_free_tags_get_no_classifier():
    texts, ids, product_tags, vocab = _catalog()
    tags = [[vocab.tags[c] for c in product_tags[i].indices] for i in range(len(texts))]
    tags[7].append("rare")
    vocab = TagSet.from_tag_lists(tags)
    indptr, indices = vocab.encode_lists(tags)
    product_tags = sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(tags), len(vocab)))
    arrays = lexical_train.train(texts, ids, product_tags, vocab)
    rare = vocab.index["rare"]
    assert not arrays.modelled[rare] and arrays.modelled.sum() == len(vocab) - 1
    assert (Predictor(arrays, vocab).scores(texts)[:, rare] == 0).all()


def test_scores_are_the_classifiers_probabilities():
    """The stored logits give scikit-learn's own predict_proba (one-vs-rest, normalised)."""
    texts, ids, product_tags, vocab = _catalog()
    arrays = lexical_train.train(texts, ids, product_tags, vocab, {"min_score": 0.0})
    predictor = Predictor(arrays, vocab)
    x = predictor.features(texts)
    kind = vocab.facets["kind"]
    labels = product_tags[:, kind].toarray().argmax(axis=1)
    model = lexical_train._fitted(x, labels, arrays.params)
    assert np.allclose(predictor.scores(texts)[:, kind], model.predict_proba(x), atol=1e-5)


def test_texts_without_repeated_terms_give_no_model():
    texts, ids, product_tags, vocab = _catalog(4)
    assert lexical_train.train(["", "", "", ""], ids, product_tags, vocab) is None
    assert lexical_train.train(["ab", "cd", "ef", "gh"], ids, product_tags, vocab) is None
