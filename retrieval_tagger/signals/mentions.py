"""Mentions: does the product text name a tag's value outright?

Catalog titles often spell out the colour, the gender or the product type. A tag whose
value words all occur in the text scores its number of words, so "Navy Blue" outranks
"Blue" in "Navy Blue Shirt"; scores are then divided by the best in each group of
competing tags. Whether to trust this for a facet is left to the fitted fusion weights
(:class:`MentionsSignal`). Words are split by :func:`retrieval_tagger.language.words`, so
Chinese runs are segmented: ``黑色`` is found in ``男士黑色跑步鞋``.
"""

from __future__ import annotations

import unicodedata

import numpy as np
from scipy import sparse

from retrieval_tagger import language
from retrieval_tagger.signals.base import Candidates, Scored, Signal
from retrieval_tagger.tags import TagSet, split_facet, tag_groups


def words(text: str) -> list[str]:
    """Lower-cased words with a plural 's' dropped, so "Shoes" matches "Shoe" (CJK words
    never end in 's')."""
    out = []
    for word in language.words(unicodedata.normalize("NFKC", text)):
        out.append(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return out


class MentionMatcher:
    """Matches product texts against the value words of every tag of a vocabulary."""

    def __init__(self, vocab: TagSet):
        self.vocab = vocab
        self.groups = tag_groups(vocab)
        self.word_ids: dict[str, int] = {}
        rows, cols = [], []
        for col, tag in enumerate(vocab.tags):
            for word in set(words(split_facet(tag)[1])):
                rows.append(self.word_ids.setdefault(word, len(self.word_ids)))
                cols.append(col)
        self.tag_words = sparse.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(self.word_ids), len(vocab))
        )
        self.length = np.asarray(self.tag_words.sum(axis=0)).ravel()

    def scores(self, texts: list[str]) -> np.ndarray:
        """(texts x tags) scores in [0, 1]: 1 for the longest fully mentioned value of a group."""
        rows, cols = [], []
        for row, text in enumerate(texts):
            found = {self.word_ids[w] for w in words(text) if w in self.word_ids}
            rows.extend([row] * len(found))
            cols.extend(found)
        present = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), len(self.word_ids)))
        hits = np.asarray((present @ self.tag_words).todense(), dtype=np.float32)
        full = np.where((hits >= self.length) & (self.length > 0), self.length, 0.0).astype(np.float32)
        for cols_of_group in self.groups:
            sub = full[:, cols_of_group]
            top = sub.max(axis=1, keepdims=True)
            full[:, cols_of_group] = sub / np.where(top > 0, top, 1.0)
        return full


class MentionsSignal(Signal):
    """Tags whose value the product text names outright; no parameters to fit."""

    inputs = frozenset({"words"})
    default_weight = 0.1

    def prepare(self, index) -> MentionMatcher:
        return MentionMatcher(index.vocab)

    def score(self, index, queries, params: dict, matcher: MentionMatcher, keep: bool) -> Scored:
        return Scored(queries.text_at, matcher.scores(queries.texts))

    def feature_names(self, index) -> list[str]:
        return ["mentions"]

    def features(self, found, candidates: Candidates) -> dict[str, np.ndarray]:
        return {"mentions": candidates.gather(found.scores[self.name])}
