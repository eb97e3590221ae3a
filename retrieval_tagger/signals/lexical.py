"""Lexical: what the product text's exact words and character n-grams say about its tags.

Neighbour voting over a sentence embedding misses the words that decide a category on
short, brand-heavy titles (model numbers, brand terms); a linear model over sparse
n-gram features sees them. At ``rtag index`` time (lexical_train.py) the catalog's texts
are turned into TF-IDF features (scikit-learn ``TfidfVectorizer``: word 1-2 grams and
character 3-5 grams within words) and one logistic-loss linear classifier is fitted per
facet (and per frequent free tag). The index keeps the vectorizers' vocabularies and idf, the
coefficients, and every catalog product's out-of-fold scores (from a model that did not
see it); a catalog product queried as itself (``Queries.self_rows``) gets those, any
other product the full model's. Scores are the classifiers' probabilities (one-vs-rest
sigmoids normalised within each facet; a sigmoid per free tag), in [0, 1]:
:class:`LexicalSignal`.

Every step is per row (the vectorizer, a sparse-by-dense product, float64 sigmoids), so
a product's scores do not depend on its batch-mates.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from retrieval_tagger.index.lexical_store import BLOCKS, LexicalArrays
from retrieval_tagger.signals.base import Candidates, Scored, Signal
from retrieval_tagger.tags import TagSet

NAME = "lexical"


def vectorizer(settings: dict, vocabulary: list[str] | None = None, idf: np.ndarray | None = None):
    """A ``TfidfVectorizer`` with ``settings`` (analyzer, ngram_range, min_df); given a
    ``vocabulary`` and ``idf`` it is the fitted one, rebuilt from its arrays."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    fixed = {"vocabulary": {term: i for i, term in enumerate(vocabulary)}} if vocabulary is not None else {"min_df": settings["min_df"]}
    out = TfidfVectorizer(analyzer=settings["analyzer"], ngram_range=tuple(settings["ngram_range"]), sublinear_tf=True, dtype=np.float32, **fixed)
    if idf is not None:
        out.idf_ = idf
    return out


class Predictor:
    """Scores of texts under a lexical model; built once per index (``Signal.prepare``)."""

    def __init__(self, arrays: LexicalArrays, vocab: TagSet):
        self.arrays = arrays
        self.vectorizers = [vectorizer(arrays.params[b], arrays.vocabulary[b], arrays.idf[b]) for b in BLOCKS]
        self.facets = list(vocab.facets.values())
        self.free = vocab.free[arrays.modelled[vocab.free]] if len(vocab.free) else vocab.free
        self.min_score = float(arrays.params["min_score"])

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """(texts x features) TF-IDF rows, each block unit-normed, the whole row unit-normed."""
        blocks = [v.transform(texts) for v in self.vectorizers]
        return (sparse.hstack(blocks, format="csr") * np.float32(1 / np.sqrt(len(blocks)))).astype(np.float32)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """(n x tags) scores from one-vs-rest logits, as scikit-learn's ``predict_proba``:
        sigmoids normalised within each facet, the sigmoid of each modelled free tag; in
        float64, row by row; below ``min_score`` 0."""
        sig = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
        out = np.zeros(logits.shape, np.float64)
        for cols in self.facets:
            out[:, cols] = sig[:, cols] / sig[:, cols].sum(axis=1, keepdims=True)
        out[:, self.free] = sig[:, self.free]
        return np.where(out >= self.min_score, out, 0.0).astype(np.float32)

    def scores(self, texts: list[str]) -> np.ndarray:
        """The full model's (texts x tags) scores."""
        if not texts:
            return np.zeros((0, len(self.arrays.intercept)), np.float32)
        return self.probabilities(np.asarray(self.features(texts) @ self.arrays.coef) + self.arrays.intercept)

    def own_rows(self, rows: np.ndarray) -> np.ndarray:
        """Which catalog ``rows`` (-1: none) have out-of-fold scores (they had text)."""
        indptr = self.arrays.oof.indptr
        safe = np.maximum(rows, 0)
        return (rows >= 0) & (indptr[safe + 1] > indptr[safe])


class LexicalSignal(Signal):
    """Linear classifiers over the text's TF-IDF n-grams, trained when the index was
    built; available on indexes that hold a lexical model."""

    inputs = frozenset({"words"})
    default_weight = 0.3
    shortlists = True

    def available(self, index) -> bool:
        return NAME in getattr(index, "models", {})

    def prepare(self, index) -> Predictor:
        return Predictor(index.models[NAME], index.vocab)

    def score(self, index, queries, params: dict, predictor: Predictor, keep: bool) -> Scored:
        at = queries.text_at
        scores = np.zeros((len(at), len(index.vocab)), np.float32)
        own = queries.self_rows[at] if queries.self_rows is not None else np.full(len(at), -1, np.int64)
        catalog = predictor.own_rows(own)
        if catalog.any():  # a catalog product as itself: the model that did not see it
            scores[catalog] = predictor.arrays.oof[own[catalog]].toarray()
        new = np.flatnonzero(~catalog)
        if len(new):
            scores[new] = predictor.scores([queries.texts[i] for i in new])
        return Scored(at, scores)

    def feature_names(self, index) -> list[str]:
        return ["lexical_score", "lexical_rank"]

    def features(self, found, candidates: Candidates) -> dict[str, np.ndarray]:
        scores = candidates.gather(found.scores[self.name])
        return {"lexical_score": scores, "lexical_rank": candidates.ranks(scores)}
