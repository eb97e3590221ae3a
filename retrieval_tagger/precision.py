"""Score -> precision tables: which score a tag must reach so that the tags kept reach a
chosen precision.

A table is built from predictions whose truth is known (the catalog tagged as its own
queries, each product left out of its neighbours): per facet, each product's chosen value
and its score, right or wrong; for free tags, each product's best ``FREE_PICKS`` free tags.
Sorted by score, it gives for every cut the precision of the predictions at or above it
and the share of predictions kept (coverage), so any target precision can be turned into
a threshold at tag time. Pure functions, numpy in and numpy out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FREE = "*free*"  # the name of the free tags' table
POINTS = 400  # cuts kept per table: coverage steps of about 1/400
FREE_PICKS = 10  # a product's best free tags that a free-tag table judges
TARGETS = (0.90, 0.95, 0.99)  # the precisions `rtag eval` reports


@dataclass
class Curve:
    """Precision and coverage of the predictions scoring at least ``score[i]``, for
    decreasing ``score``; ``count`` predictions were judged."""

    score: np.ndarray
    precision: np.ndarray
    coverage: np.ndarray
    count: int

    def threshold(self, target: float) -> float:
        """The lowest score whose cut keeps predictions of at least ``target`` precision
        (the cut of largest coverage that does); infinity when no cut does."""
        ok = np.flatnonzero(self.precision >= target)
        return float(self.score[ok[-1]]) if len(ok) else float("inf")

    def to_json(self) -> dict:
        return {"count": self.count, "score": _rounded(self.score), "precision": _rounded(self.precision), "coverage": _rounded(self.coverage)}

    @classmethod
    def from_json(cls, data: dict) -> "Curve":
        arrays = [np.asarray(data[key], dtype=np.float64) for key in ("score", "precision", "coverage")]
        if len({len(a) for a in arrays}) != 1:
            raise ValueError("score, precision and coverage differ in length")
        return cls(*arrays, int(data["count"]))


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


def curve(scores: np.ndarray, correct: np.ndarray, points: int = POINTS) -> Curve:
    """The precision/coverage curve of predictions with these ``scores``, right where
    ``correct``, kept at about ``points`` cuts evenly spread over coverage.

    Equal scores are kept or cut together, so each cut's precision is exactly that of
    the predictions scoring at least its score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if len(scores) == 0:
        return Curve(np.zeros(0), np.zeros(0), np.zeros(0), 0)
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], np.cumsum(correct[order])
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])  # the last prediction of each run of equal scores
    kept = ends[np.unique(np.searchsorted(ends + 1, np.linspace(0, len(scores), points + 1)[1:], side="left"))]
    kept = np.union1d(kept, ends[-1:])
    n = kept + 1
    return Curve(ranked[kept], hits[kept] / n, n / len(scores), int(len(scores)))


def facet_picks(scores: np.ndarray, truth: np.ndarray, cols: np.ndarray, judged: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each product's best value of one facet (columns ``cols``) as (score, right?), for
    the products whose truth has a value of that facet (or those ``judged`` marks: a true
    value the index lacks is judged too, and always wrong)."""
    judged = np.flatnonzero(truth[:, cols].any(axis=1) if judged is None else judged)
    sub = scores[judged][:, cols]
    best = np.argmax(sub, axis=1)
    rows = np.arange(len(judged))
    return sub[rows, best], truth[judged][:, cols][rows, best]


def free_picks(scores: np.ndarray, truth: np.ndarray, cols: np.ndarray, top: int = FREE_PICKS) -> tuple[np.ndarray, np.ndarray]:
    """Each product's best ``top`` free tags (columns ``cols``) with a score above 0, as
    (score, right?)."""
    sub = scores[:, cols]
    m = min(top, sub.shape[1])
    if m == 0 or len(sub) == 0:
        return np.zeros(0), np.zeros(0, bool)
    best = np.argpartition(-sub, m - 1, axis=1)[:, :m]
    picked = np.take_along_axis(sub, best, axis=1)
    right = np.take_along_axis(truth[:, cols], best, axis=1)
    keep = picked > 0
    return picked[keep], right[keep]


def group_picks(scores: np.ndarray, truth: np.ndarray, vocab) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(score, right?) of the predictions of every facet of ``vocab`` and of its free
    tags (under :data:`FREE`), from (products x tags) ``scores`` and boolean ``truth``."""
    return {name: (free_picks if name == FREE else facet_picks)(scores, truth, cols) for name, cols in groups(vocab)}


def group_curves(scores: np.ndarray, truth: np.ndarray, vocab, points: int = POINTS) -> dict[str, Curve]:
    """A :class:`Curve` per facet and for the free tags (see :func:`group_picks`)."""
    return {name: curve(s, c, points) for name, (s, c) in group_picks(scores, truth, vocab).items()}


def kept(scores: np.ndarray, correct: np.ndarray, threshold) -> dict:
    """What a threshold (one, or one per prediction) keeps of judged predictions: their
    precision (None when nothing is kept), the share kept (coverage) and how many."""
    keep = np.asarray(scores) >= threshold
    n = int(keep.sum())
    # a target no cut reaches has an infinite threshold: None, so JSON stays JSON
    out = {"threshold": float(threshold) if np.isfinite(threshold) else None} if np.ndim(threshold) == 0 else {}
    return {**out, "precision": float(np.asarray(correct)[keep].mean()) if n else None,
            "coverage": n / len(keep) if len(keep) else 0.0, "kept": n, "judged": int(len(keep))}


def column_thresholds(curves: dict[str, Curve], vocab, target: float) -> np.ndarray:
    """(tags,) the score each tag column must reach for ``target`` precision: its facet's
    threshold, or the free tags'; infinity for a group without a table (nothing in it
    can be trusted at a chosen precision)."""
    out = np.full(len(vocab), np.inf)
    for name, cols in groups(vocab):
        if name in curves:
            out[cols] = curves[name].threshold(target)
    return out


def groups(vocab) -> list[tuple[str, np.ndarray]]:
    """(name, tag columns) of every facet of ``vocab`` and of its free tags (:data:`FREE`), if any."""
    return [*vocab.facets.items(), *([(FREE, vocab.free)] if len(vocab.free) else [])]


def tables_to_json(curves: dict[str, Curve], source: str, sample: int) -> dict:
    """Curves as the manifest records them: what scores they judge and on how many products."""
    return {"scores": source, "products": int(sample), "groups": {name: c.to_json() for name, c in curves.items()}}


def tables_from_json(data: dict | None) -> dict[str, Curve]:
    """The curves of a recorded table ({} when none was recorded)."""
    if not data:
        return {}
    return {name: Curve.from_json(c) for name, c in data.get("groups", {}).items()}
