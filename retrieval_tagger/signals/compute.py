"""Per-signal scores of a batch of products, computed from their query vectors.

No encoders here: the pipeline encodes new products, and reranker training passes the
catalog's own stored vectors (leave-one-out), so both score through the same code.
Which signals there are, and how each scores, is the registry's (registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from retrieval_tagger.queries import Queries
from retrieval_tagger.signals import fuse, registry
from retrieval_tagger.signals.registry import signals_of
from retrieval_tagger.signals.settings import FusionSettings


@dataclass
class Signals:
    """What each signal says about a batch of products, before fusion."""

    scores: dict[str, np.ndarray]  # signal -> (n x tags) scores in [0, 1]
    present: dict[str, np.ndarray]  # signal -> (n,) whether the product has this signal
    extras: dict[str, dict] = field(default_factory=dict)  # signal -> what its reranker features read (Signal.score)

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


def prepare(index) -> dict[str, object]:
    """Each signal's per-index state (``Signal.prepare``), built once and handed to every
    :func:`compute` on ``index``."""
    return {signal.name: signal.prepare(index) for signal in registry.available(index)}


def compute(index, queries: Queries, wanted: set[str], fusion: FusionSettings, prepared: dict | None = None,
            similarities: bool = False) -> Signals:
    """Scores of the ``wanted`` signals that ``index`` has, for a batch of queries.

    ``prepared`` comes from :func:`prepare` (built here when not given). With
    ``similarities`` each signal also keeps what the reranker's features read (the
    neighbours, the raw tag-name similarities).
    """
    n, n_tags = queries.n, len(index.vocab)
    found = Signals({}, {})
    # prepare() already asked each signal whether the index has it: not again per batch
    for name in (prepared if prepared is not None else signals_of(index)):
        if name not in wanted:
            continue
        signal = registry.get(name)
        state = prepared[name] if prepared is not None and name in prepared else signal.prepare(index)
        scored = signal.score(index, queries, signal.params_in(fusion), state, similarities)
        found.scores[name], found.present[name] = signal.dense(scored, n, n_tags)
        if similarities:
            found.extras[name] = scored.extras
    return found
