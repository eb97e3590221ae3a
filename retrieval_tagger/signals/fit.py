"""Fit how signals are combined, by leave-one-out on the catalog itself.

Each sampled catalog product is tagged from its neighbours with itself left out, as a
new product would be. On those predictions we pick, per kNN signal, the number of
neighbours k and the vote temperature; for the zero-shot signal its temperature; and
per facet the fusion weights of the signals (a grid over the weight simplex). No
labels beyond the catalog's own tags are needed, and every catalog gets weights fitted
to what its text and images actually say about each of its facets.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from retrieval_tagger.signals import fuse, knn
from retrieval_tagger.signals import names as zeroshot
from retrieval_tagger.tags import TagSet, tag_groups

FIT_VERSION = 1
GRID_K = (5, 10, 20, 40)
GRID_T = (0.02, 0.05, 0.1, 1.0)
GRID_NAMES_T = (0.01, 0.02, 0.05, 0.1)
WEIGHT_STEPS = 10  # weights move in steps of 1/10
MIN_GROUP_SAMPLES = 30  # a facet with fewer sampled examples keeps the default weights
MIN_FIT_PRODUCTS = 50  # below this, defaults are used
MAX_SAMPLE = 2000
WIDE_GROUP = 256  # groups with more tags are fitted on each product's candidate tags
CANDIDATES = 20  # per signal
# Used when a catalog is too small to fit, and as the prior that breaks ties between
# equally good weightings: a plain guess that leans on text neighbours (the strongest
# single signal on the fashion benchmark), not a fitted result.
DEFAULT_FUSION = {
    "version": FIT_VERSION,
    "knn": {"text": {"k": 20, "temperature": 0.05}, "image": {"k": 20, "temperature": 0.05}, "colour": {"k": 20, "temperature": 0.05}},
    "names": {"temperature": 0.05},
    "weights": {"default": {"text": 0.5, "image": 0.2, "colour": 0.1, "names": 0.1, "mentions": 0.1}, "facets": {}},
}


@dataclass
class Neighbours:
    """Leave-one-out neighbours of the sample in one modality (rows are product rows)."""

    sims: np.ndarray
    rows: np.ndarray
    present: np.ndarray


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


def fit_knn(nb: Neighbours, product_tags: sparse.csr_matrix, groups, truth) -> tuple[dict, np.ndarray, float]:
    """Best (k, temperature) of one kNN signal, its votes and its accuracy."""
    best = None
    for k, temp in itertools.product(GRID_K, GRID_T):
        k = min(k, nb.rows.shape[1])
        votes = knn.vote(knn.neighbour_weights(nb.sims[:, :k], nb.rows[:, :k], temp), nb.rows[:, :k], product_tags)
        acc = micro_accuracy(votes[nb.present], groups, truth[nb.present])
        if best is None or acc > best[2]:
            best = ({"k": int(k), "temperature": temp}, votes, acc)
    return best


def true_tag_nll(scores: np.ndarray, groups, truth: np.ndarray) -> float:
    """Mean negative log-probability of the true tags under per-group distributions."""
    total, count = 0.0, 0
    for cols in groups:
        sub_truth = truth[:, cols]
        if sub_truth.any():
            total -= float(np.log(np.maximum(scores[:, cols][sub_truth], 1e-9)).sum())
            count += int(sub_truth.sum())
    return total / count if count else 0.0


def fit_names(sims: np.ndarray, groups, truth) -> tuple[dict, np.ndarray, float]:
    """Zero-shot temperature, scores and accuracy.

    The softmax keeps the order of tags, so accuracy cannot choose the temperature;
    the likelihood of the true tags (calibration) does.
    """
    best = None
    for temp in GRID_NAMES_T:
        scores = zeroshot.group_softmax(sims, groups, temp)
        nll = true_tag_nll(scores, groups, truth)
        if best is None or nll < best[2]:
            best = ({"temperature": temp}, scores, nll)
    params, scores, _ = best
    return params, scores, micro_accuracy(scores, groups, truth)


def simplex(names: list[str], steps: int = WEIGHT_STEPS) -> list[dict]:
    """All weightings of ``names`` in multiples of 1/steps that sum to 1."""
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


def fit_weights(scores: dict, present: dict, named_groups: dict[str, np.ndarray], truth: np.ndarray) -> tuple[dict, dict]:
    """Default weights (best overall) and per-facet weights (best per facet)."""
    candidates = simplex(list(scores))
    views = group_views(scores, named_groups, truth)
    hits = np.zeros((len(candidates), len(views), 2), dtype=np.int64)
    for i, w in enumerate(candidates):
        for j, (sub, sub_truth, count) in enumerate(views):
            hits[i, j] = top_hits(fuse.fuse(sub, present, w), sub_truth), count
    prior = DEFAULT_FUSION["weights"]["default"]
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
    return {"default": default, "facets": per_facet}, report


def fit_fusion(neighbours: dict[str, Neighbours], name_sims: np.ndarray | None, text_present: np.ndarray,
               product_tags: sparse.csr_matrix, vocab: TagSet, truth: np.ndarray,
               fixed: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> dict:
    """The fusion section of a manifest, fitted on a leave-one-out sample.

    ``neighbours`` maps kNN signals (text, image, colour) to the sample's neighbours;
    ``name_sims`` are the sample's text-to-tag-name cosine similarities (or None);
    ``fixed`` maps signals without parameters (mentions) to (scores, present);
    ``truth`` is the sample's (products x tags) boolean tag matrix.
    """
    groups = tag_groups(vocab)
    named_groups = dict(vocab.facets)
    if len(vocab.free):
        named_groups["*free*"] = vocab.free
    result = {"version": FIT_VERSION, "knn": {}, "names": {}, "fit": {"sample": int(len(truth)), "signal_accuracy": {}}}
    scores, present = {}, {}
    for name, nb in neighbours.items():
        params, votes, acc = fit_knn(nb, product_tags, groups, truth)
        result["knn"][name] = params
        result["fit"]["signal_accuracy"][name] = acc
        scores[name], present[name] = votes, nb.present
    if name_sims is not None:
        params, _, acc = fit_names(name_sims[text_present], groups, truth[text_present])
        zs = zeroshot.group_softmax(name_sims, groups, params["temperature"])
        result["names"] = params
        result["fit"]["signal_accuracy"]["names"] = acc
        scores["names"], present["names"] = zs, text_present
    for name, (signal_scores, signal_present) in (fixed or {}).items():
        scores[name], present[name] = signal_scores, signal_present
        result["fit"]["signal_accuracy"][name] = micro_accuracy(signal_scores[signal_present], groups, truth[signal_present])
    weights, report = fit_weights(scores, present, named_groups, truth)
    result["weights"] = weights
    result["fit"]["fused_accuracy"] = report
    return result
