"""Per-signal scores of a batch of products, computed from their query vectors.

No encoders here: the pipeline encodes new products, and reranker training passes the
catalog's own stored vectors (leave-one-out), so both score through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from retrieval_tagger.queries import Queries
from retrieval_tagger.signals import fuse, knn
from retrieval_tagger.signals import names as zeroshot
from retrieval_tagger.signals.mentions import MentionMatcher
from retrieval_tagger.tags import tag_groups

SIGNALS = ("text", "image", "colour", "names", "mentions")
KNN_SIGNALS = ("text", "image", "colour")
TEXT_SIGNALS = ("names", "mentions")  # computed from the product text without an index store


def signals_of(index) -> list[str]:
    """The signals an index can compute: the text ones always, kNN ones where it has a store."""
    return [s for s in SIGNALS if s in TEXT_SIGNALS or s in index.modalities]


@dataclass
class Signals:
    """What each signal says about a batch of products, before fusion."""

    scores: dict[str, np.ndarray]  # signal -> (n x tags) scores in [0, 1]
    present: dict[str, np.ndarray]  # signal -> (n,) whether the product has this signal
    neighbours: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # kNN signal -> (sims, rows)
    name_sims: np.ndarray | None = None  # (n x tags) cosine of product text to tag names; NaN without text
    image_name_sims: np.ndarray | None = None  # (n x tags) cosine of product image to tag names; NaN without image

    def fused(self, weights: dict[str, np.ndarray]) -> np.ndarray:
        """The weighted fusion of the signals that ``weights`` names (see :func:`fuse.fuse`)."""
        scores = {name: self.scores[name] for name in weights if name in self.scores}
        if not scores:
            n, n_tags = next(iter(self.scores.values())).shape if self.scores else (0, 0)
            return np.zeros((n, n_tags), dtype=np.float32)
        return fuse.fuse(scores, {name: self.present[name] for name in scores}, weights)

    def any_signal(self, n: int) -> np.ndarray:
        if not self.present:
            return np.zeros(n, dtype=bool)
        return np.logical_or.reduce(list(self.present.values()))


def _knn(index, name: str, vectors: np.ndarray, self_rows, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    modality = index.modalities[name]
    sims, rows = knn.nearest(modality.index, modality.rows, vectors, params["k"], self_rows)
    weights = knn.neighbour_weights(sims, rows, params["temperature"])
    return knn.vote(weights, rows, index.product_tags), sims, rows


def compute(index, queries: Queries, wanted: set[str], fusion: dict, mentions: MentionMatcher, similarities: bool = False) -> Signals:
    """Scores of the ``wanted`` signals for a batch of queries.

    With ``similarities`` the neighbours and the raw tag-name similarities are kept too
    (the reranker's features need them).
    """
    n, n_tags = queries.n, len(index.vocab)
    signals = Signals({}, {})
    self_rows = queries.self_rows

    def put(name: str, at: np.ndarray, values: np.ndarray) -> None:
        signals.scores.setdefault(name, np.zeros((n, n_tags), dtype=np.float32))[at] = values
        signals.present.setdefault(name, np.zeros(n, dtype=bool))[at] = True

    def keep(name: str, at: np.ndarray, sims: np.ndarray, rows: np.ndarray) -> None:
        full_sims = np.full((n, sims.shape[1]), -np.inf, dtype=np.float32)
        full_rows = np.full((n, rows.shape[1]), -1, dtype=np.int64)
        full_sims[at], full_rows[at] = sims, rows
        signals.neighbours[name] = (full_sims, full_rows)

    def tag_sims(at: np.ndarray, vectors: np.ndarray, tag_vectors: np.ndarray) -> np.ndarray:
        out = np.full((n, n_tags), np.nan, dtype=np.float32)
        out[at] = vectors @ tag_vectors.T
        return out

    text_at = queries.text_at
    for name in ("text", "names", "mentions"):
        if name in wanted:
            put(name, text_at, np.zeros((len(text_at), n_tags), np.float32))  # present even when empty
    if len(text_at) and "text" in wanted:
        votes, sims, rows = _knn(index, "text", queries.text_vectors, None if self_rows is None else self_rows[text_at], fusion["knn"]["text"])
        put("text", text_at, votes)
        if similarities:
            keep("text", text_at, sims, rows)
    if len(text_at) and queries.text_vectors is not None and ("names" in wanted or similarities):
        sims = tag_sims(text_at, queries.text_vectors, index.vocab_vectors["text"])
        if "names" in wanted:
            put("names", text_at, zeroshot.group_softmax(sims[text_at], tag_groups(index.vocab), fusion["names"]["temperature"]))
        if similarities:
            signals.name_sims = sims
    if len(text_at) and "mentions" in wanted:
        put("mentions", text_at, mentions.scores(queries.texts))
    image_at = queries.image_at
    for name, vectors in (("image", queries.image_vectors), ("colour", queries.colour_vectors)):
        if name in wanted and name in index.modalities:
            put(name, image_at, np.zeros((len(image_at), n_tags), np.float32))
            if len(image_at):
                votes, sims, rows = _knn(index, name, vectors, None if self_rows is None else self_rows[image_at], fusion["knn"][name])
                put(name, image_at, votes)
                if similarities:
                    keep(name, image_at, sims, rows)
    if similarities:  # a batch without any text or image still gets (n x 0) neighbours
        for name in KNN_SIGNALS:
            if name in wanted and name in index.modalities and name not in signals.neighbours:
                signals.neighbours[name] = (np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64))
    if similarities and len(image_at) and "image" in index.vocab_vectors and queries.image_vectors is not None:
        tag_vectors = index.vocab_vectors["image"]
        if tag_vectors.shape[1] == queries.image_vectors.shape[1]:
            signals.image_name_sims = tag_sims(image_at, queries.image_vectors, tag_vectors)
    return signals
