"""Fit how signals are combined, by leave-one-out on the catalog itself.

Each sampled catalog product is tagged from its neighbours with itself left out, as a
new product would be. On those predictions each signal picks its own parameters
(``Signal.fit``: for a kNN signal the number of neighbours k and the vote temperature,
for the zero-shot signal its temperature), and per facet the fusion weights of the
signals are chosen here (a grid over the weight simplex). No labels beyond the catalog's
own tags are needed, and every catalog gets weights fitted to what its text and images
actually say about each of its facets.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from retrieval_tagger.queries import Queries
from retrieval_tagger.signals import fuse
from retrieval_tagger.signals.settings import FitReport, FusionSettings, FusionWeights

WEIGHT_STEPS = 10  # weights move in steps of 1/10
MIN_GROUP_SAMPLES = 30  # a facet with fewer sampled examples keeps the default weights
MIN_FIT_PRODUCTS = 50  # below this, defaults are used
MAX_SAMPLE = 2000
WIDE_GROUP = 256  # groups with more tags are fitted on each product's candidate tags
CANDIDATES = 20  # per signal


@dataclass
class FitSample:
    """The tagged catalog products the fusion is fitted on, each to be left out of its own
    neighbours.

    Every store's vectors are given for every sampled product: ``vectors[store]`` is
    (sample x dim), and a product without that input holds a stand-in vector and is False
    in ``has[store]`` (so every search runs on the same batch of queries whichever products
    have the input). ``has["words"]`` marks the products with text.
    """

    rows: np.ndarray  # catalog rows
    vectors: dict[str, np.ndarray]
    has: dict[str, np.ndarray]
    texts: list[str]  # "" for a product without text
    truth: np.ndarray  # (sample x tags) the products' own tags
    groups: list[np.ndarray]  # groups of competing tags (tags.tag_groups)

    def queries(self) -> Queries:
        """The sample as a query batch, each product left out of its own neighbours."""
        text_at, image_at = np.flatnonzero(self.has["text"]), np.flatnonzero(self.has.get("image", np.zeros(0, bool)))

        def at(store: str, rows: np.ndarray) -> np.ndarray | None:
            return self.vectors[store][rows] if store in self.vectors else None

        return Queries(len(self.rows), text_at, [self.texts[i] for i in text_at], at("text", text_at), image_at,
                       at("image", image_at), at("colour", image_at), self_rows=self.rows)


@dataclass
class Fitted:
    """One signal fitted on a sample: its parameters, the sample's (sample x tags) scores
    under them, which products it scored, and its accuracy alone (:func:`micro_accuracy`)."""

    params: dict
    scores: np.ndarray
    present: np.ndarray
    accuracy: float


def top_hits(scores: np.ndarray, truth: np.ndarray) -> int:
    """How many rows rank a true column first (scores and truth over one group's columns)."""
    rows = np.arange(len(scores))
    best = np.argmax(scores, axis=1)
    # a row of zeros has no prediction: its argmax would be the first column by accident
    return int((truth[rows, best] & (scores[rows, best] > 0)).sum())


def group_hits(scores: np.ndarray, cols: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """How many products with a true tag in group ``cols`` have it ranked first, of how many."""
    sub_truth = truth[:, cols]
    return top_hits(scores[:, cols], sub_truth), int(sub_truth.any(axis=1).sum())


def micro_accuracy(scores: np.ndarray, groups: list[np.ndarray], truth: np.ndarray) -> float:
    hits = [group_hits(scores, cols, truth) for cols in groups]
    total = sum(n for _, n in hits)
    return sum(h for h, _ in hits) / total if total else 0.0


def true_tag_nll(scores: np.ndarray, groups, truth: np.ndarray) -> float:
    """Mean negative log-probability of the true tags under per-group distributions."""
    total, count = 0.0, 0
    for cols in groups:
        sub_truth = truth[:, cols]
        if sub_truth.any():
            total -= float(np.log(np.maximum(scores[:, cols][sub_truth], 1e-9)).sum())
            count += int(sub_truth.sum())
    return total / count if count else 0.0


def simplex(names: list[str]) -> list[dict]:
    """All weightings of ``names`` in multiples of 1/WEIGHT_STEPS that sum to 1."""
    steps = WEIGHT_STEPS
    out = []
    for combo in itertools.product(range(steps + 1), repeat=len(names)):
        if sum(combo) == steps:
            out.append({n: c / steps for n, c in zip(names, combo)})
    return out


def group_views(scores: dict, named_groups: dict[str, np.ndarray], truth: np.ndarray) -> list[tuple[dict, np.ndarray, int]]:
    """Per group of competing tags: its signal scores, its truth, and how many products
    have a true tag in it.

    A group wider than ``WIDE_GROUP`` tags (a large free vocabulary) is cut to each
    product's candidates: the union of every signal's top ``CANDIDATES`` tags, so that
    trying a weighting costs (products x candidates), not (products x tags).
    """
    views = []
    for cols in named_groups.values():
        sub_truth = truth[:, cols]
        count = int(sub_truth.any(axis=1).sum())
        sub = {name: s[:, cols] for name, s in scores.items()}
        if len(cols) > WIDE_GROUP:
            cand = np.concatenate([np.argpartition(-s, CANDIDATES, axis=1)[:, :CANDIDATES] for s in sub.values()], axis=1)
            sub = {name: np.take_along_axis(s, cand, axis=1) for name, s in sub.items()}
            sub_truth = np.take_along_axis(sub_truth, cand, axis=1)
        views.append((sub, sub_truth, count))
    return views


def fit_weights(scores: dict, present: dict, named_groups: dict[str, np.ndarray], truth: np.ndarray,
                prior: dict[str, float]) -> tuple[FusionWeights, dict]:
    """Default weights (best overall) and per-facet weights (best per facet), and the
    accuracy of each; among equally good weightings the one nearest ``prior``."""
    candidates = simplex(list(scores))
    views = group_views(scores, named_groups, truth)
    hits = np.zeros((len(candidates), len(views), 2), dtype=np.int64)
    for i, w in enumerate(candidates):
        for j, (sub, sub_truth, count) in enumerate(views):
            hits[i, j] = top_hits(fuse.fuse(sub, present, w), sub_truth), count
    distance = np.asarray([sum(abs(w[n] - prior.get(n, 0.0)) for n in w) for w in candidates])

    def pick(acc: np.ndarray) -> dict:
        # among equally accurate weightings (common on small catalogs) take the one nearest the prior
        tied = np.flatnonzero(acc >= acc.max() - 1e-12)
        return candidates[int(tied[np.argmin(distance[tied])])]

    overall = hits[:, :, 0].sum(axis=1) / np.maximum(hits[:, :, 1].sum(axis=1), 1)
    default = pick(overall)
    per_facet, report = {}, {"default": float(overall.max())}
    for j, name in enumerate(named_groups):
        count = int(hits[0, j, 1])
        if name == "*free*" or count < MIN_GROUP_SAMPLES:
            continue
        acc = hits[:, j, 0] / count
        per_facet[name] = pick(acc)
        report[name] = float(acc.max())
    return FusionWeights(default, per_facet), report


def fit_fusion(signals: list, index, sample: FitSample) -> FusionSettings:
    """Fusion settings fitted on a leave-one-out sample: each of ``signals`` (in fusion
    order) fits its parameters, then the weights are fitted on their scores.

    ``index`` is the index as signals see it (``base.IndexView``); signals without
    parameters are left out of the settings' ``params``.
    """
    named_groups = dict(index.vocab.facets)
    if len(index.vocab.free):
        named_groups["*free*"] = index.vocab.free
    params, accuracy, scores, present = {}, {}, {}, {}
    for signal in signals:
        fitted = signal.fit(index, sample, signal.prepare(index))
        if fitted.params:
            params[signal.name] = fitted.params
        accuracy[signal.name] = fitted.accuracy
        scores[signal.name], present[signal.name] = fitted.scores, fitted.present
    weights, report = fit_weights(scores, present, named_groups, sample.truth, {signal.name: signal.default_weight for signal in signals})
    return FusionSettings(params, weights, FitReport(int(len(sample.truth)), accuracy, report))
