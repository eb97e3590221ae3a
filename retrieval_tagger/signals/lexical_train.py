"""Training the lexical signal at ``rtag index`` time: TF-IDF features of the product
text (scikit-learn ``TfidfVectorizer``, word n-grams and character n-grams within words)
and one logistic-loss linear classifier per facet (scikit-learn ``SGDClassifier``,
one-vs-rest; and one per frequent free tag), with out-of-fold scores for the catalog's
own products. Stochastic gradient descent, not ``LogisticRegression``'s lbfgs: on the
amazon_uk catalog it was as accurate and 40x faster (benchmarks/README.md).

Every catalog product's scores come from a model that never saw it (k-fold cross-fitting,
folds by a hash of the id), so the leave-one-out fusion fit and the reranker's training
see the lexical signal as a new product would. The result is plain arrays
(:class:`~.lexical.LexicalArrays`): the vectorizers' vocabularies and idf, the linear
models' coefficients, and the out-of-fold scores as a sparse matrix.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy import sparse

from retrieval_tagger import artifacts
from retrieval_tagger.index.lexical_store import BLOCKS, LexicalArrays
from retrieval_tagger.signals.lexical import Predictor, vectorizer
from retrieval_tagger.tags import TagSet

# chosen on the catalogs alone (hash splits, out-of-fold scores; benchmarks/README.md,
# "Both catalogs side by side")
PARAMS = {
    "word": {"analyzer": "word", "ngram_range": [1, 2], "min_df": 2},
    "char": {"analyzer": "char_wb", "ngram_range": [3, 5], "min_df": 3},
    "alpha": 1e-5,  # SGDClassifier's L2 penalty
    "epochs": 20,  # at most; it stops when the loss improves by less than tol
    "tol": 1e-3,
    "folds": 5,
    "min_score": 1e-3,  # scores below are 0, so the out-of-fold matrix stays sparse
}
MIN_FREE_PRODUCTS = 5  # a free tag needs this many products to get its own classifier
MAX_FREE_TAGS = 200  # the most frequent free tags get one; the others score 0
FOLD_SALT = "lexical:"


def fold_of(ids: list[str], folds: int) -> np.ndarray:
    """Each product's fold, from a hash of its id."""
    return np.fromiter((artifacts.hash_bucket(i, folds, salt=FOLD_SALT) for i in ids), dtype=np.int64, count=len(ids))


def _fitted(x, labels: np.ndarray, params: dict):
    """A logistic-loss classifier of ``x`` (seeded: the same data give the same model)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier

    with warnings.catch_warnings():  # a few more epochs would change the scores in the third decimal
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SGDClassifier(loss="log_loss", alpha=params["alpha"], max_iter=params["epochs"], tol=params["tol"], random_state=0, n_jobs=-1).fit(x, labels)


def _targets(product_tags: sparse.csr_matrix, vocab: TagSet) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """What to train, as (tag columns, training rows, label of each row, outputs): one
    multi-class task per facet over the products tagged in it (an output per value), one
    binary task per frequent free tag over every product (labels 1 or 0, one output)."""
    tags = product_tags.tocsc()
    tasks = []
    for cols in vocab.facets.values():
        sub = tags[:, cols].tocsr()
        rows = np.flatnonzero(np.diff(sub.indptr) > 0)
        # a product with two values of one facet (rare) trains on the first
        tasks.append((cols, rows, sub.indices[sub.indptr[rows]].astype(np.int64), len(cols)))
    counts = np.diff(tags.indptr)[vocab.free] if len(vocab.free) else np.zeros(0, np.int64)
    frequent = vocab.free[np.argsort(-counts, kind="stable")[:MAX_FREE_TAGS]] if len(vocab.free) else vocab.free
    everyone = np.arange(product_tags.shape[0])
    for col in frequent[np.diff(tags.indptr)[frequent] >= MIN_FREE_PRODUCTS]:
        labels = np.zeros(product_tags.shape[0], np.int64)
        labels[tags.indices[tags.indptr[col]:tags.indptr[col + 1]]] = 1
        tasks.append((np.asarray([col]), everyone, labels, 1))
    return tasks


def _fit(x, labels: np.ndarray, n_out: int, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (features x n_out) and intercepts (n_out,) of one task, as one-vs-rest
    logits whose sigmoids, normalised over the task's columns (just the sigmoid for a
    binary task: ``n_out`` 1), are the classifier's ``predict_proba``. Classes absent from
    ``labels`` get a logit of -30 (a probability of 0 after the floor)."""
    coef = np.zeros((x.shape[1], n_out), np.float32)
    intercept = np.full(n_out, -30.0 if n_out > 1 else 0.0, np.float32)
    classes = np.unique(labels)
    if len(classes) < 2:  # one value (or none) only: the one value of a facet, or always or never a free tag
        if n_out > 1:
            intercept[classes] = 0.0
        elif len(classes):
            intercept[0] = 30.0 if classes[0] == 1 else -30.0
        return coef, intercept
    model = _fitted(x, labels, params)
    if n_out == 1:
        coef[:, 0], intercept[0] = model.coef_[0], model.intercept_[0]
    elif len(classes) == 2:  # scikit-learn keeps one row for two classes: sigmoid(-z) + sigmoid(z) = 1
        coef[:, classes[1]], intercept[classes[1]] = model.coef_[0], model.intercept_[0]
        coef[:, classes[0]], intercept[classes[0]] = -model.coef_[0], -model.intercept_[0]
    else:
        coef[:, classes], intercept[classes] = model.coef_.T, model.intercept_
    return coef, intercept


def train(texts: list[str], ids: list[str], product_tags: sparse.csr_matrix, vocab: TagSet, params: dict | None = None) -> LexicalArrays | None:
    """The lexical model of a catalog: ``texts`` and ``ids`` per product ("" for a product
    without text, which neither trains nor gets out-of-fold scores). None when the texts
    give no terms (no texts, or none repeated often enough): the index goes without it."""
    params = {**PARAMS, **(params or {})}
    started = time.perf_counter()
    has_text = np.asarray([bool(t) for t in texts])
    with_text = [t for t in texts if t]
    try:
        vectorizers = {name: vectorizer(params[name]).fit(with_text) for name in BLOCKS}
    except ValueError:  # scikit-learn: "empty vocabulary" (or every term pruned by min_df)
        return None
    arrays = LexicalArrays(
        params=params,
        vocabulary={name: v.get_feature_names_out().tolist() for name, v in vectorizers.items()},
        idf={name: v.idf_.astype(np.float32) for name, v in vectorizers.items()},
        coef=np.zeros((0, len(vocab)), np.float32),
        intercept=np.zeros(len(vocab), np.float32),
        modelled=np.zeros(len(vocab), bool),
        oof=sparse.csr_matrix((len(texts), len(vocab)), dtype=np.float32),
    )
    predictor = Predictor(arrays, vocab)
    x = predictor.features(texts)
    folds = fold_of(ids, params["folds"])
    arrays.coef = np.zeros((x.shape[1], len(vocab)), np.float32)
    fold_logits = np.zeros((len(texts), len(vocab)), np.float32)
    for cols, rows, labels, n_out in _targets(product_tags, vocab):
        rows, labels = rows[has_text[rows]], labels[has_text[rows]]
        arrays.coef[:, cols], arrays.intercept[cols] = _fit(x[rows], labels, n_out, params)
        arrays.modelled[cols] = True
        for fold in range(params["folds"]):
            inside, scored = folds[rows] != fold, np.flatnonzero((folds == fold) & has_text)
            coef, intercept = _fit(x[rows[inside]], labels[inside], n_out, params)
            fold_logits[np.ix_(scored, cols)] = np.asarray(x[scored] @ coef) + intercept
    arrays.oof = sparse.csr_matrix(np.where(has_text[:, None], predictor.probabilities(fold_logits), 0.0).astype(np.float32))
    arrays.seconds = time.perf_counter() - started
    return arrays
