"""Colour names as a signal: the share of a product photo's pixels named as each value of
the catalog's colour facets (encoders/colour_names.py), zero-shot, so it needs no
example of a colour and reads nothing but the colour histogram already decoded with the
photo.

It scores the groups of competing tags whose values are mostly colour names
(``colour_names.colour_groups``), and is available to an index with a colour store and at
least one such group. A signal sees the index, not its text encoder, so colour names are
matched to tag values by the model-free hashing encoder (words and character trigrams):
exact and near spellings ("navy blue" for "Navy Blue"), which catalog colour values
mostly are. Stored vocabularies (``rtag tag --vocab``) match them with the index's text
model instead (vocab/stored.py). Whether to trust it for a facet is left to the fitted
fusion weights, as for every signal.
"""

from __future__ import annotations

import threading

import numpy as np

from retrieval_tagger.encoders import colour, colour_names
from retrieval_tagger.encoders.hashing import HashingTextEncoder
from retrieval_tagger.index.exact import inner_products
from retrieval_tagger.signals.base import Candidates, Scored, Signal

MATCH_ENCODER_DIM = 1024  # hashing buckets: few collisions among ~1,100 short names


class TagBins:
    """The index's (tags x bins) colour-name matrix (colour_names.tag_bins), built on first
    use: tagging text alone never pays for the colour table."""

    def __init__(self, vocab):
        self._vocab, self._matrix, self._lock = vocab, None, threading.Lock()

    def matrix(self) -> np.ndarray:
        with self._lock:
            if self._matrix is None:
                found = colour_names.tag_bins(HashingTextEncoder(MATCH_ENCODER_DIM).encode, self._vocab)
                self._matrix = found if found is not None else np.zeros((len(self._vocab), colour.DIM), np.float32)
            return self._matrix


class ColourNamesSignal(Signal):
    """Each colour tag's share of the photo's pixels; no parameters to fit."""

    inputs = frozenset({"colour"})
    default_weight = 0.0

    def available(self, index) -> bool:
        return "colour" in index.modalities and bool(colour_names.colour_groups(index.vocab))

    def prepare(self, index) -> TagBins:
        return TagBins(index.vocab)

    def score(self, index, queries, params: dict, bins: TagBins, keep: bool) -> Scored:
        if queries.colour_vectors is None or not len(queries.image_at):
            return Scored(np.zeros(0, np.int64), np.zeros((0, len(index.vocab)), np.float32))
        shares = inner_products(colour.bin_shares(queries.colour_vectors), bins.matrix())
        return Scored(queries.image_at, np.clip(shares, 0.0, 1.0))

    def feature_names(self, index) -> list[str]:
        return ["colour_name_share"]

    def features(self, found, candidates: Candidates) -> dict[str, np.ndarray]:
        return {"colour_name_share": candidates.gather(found.scores[self.name])}
