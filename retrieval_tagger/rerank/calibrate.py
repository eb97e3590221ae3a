"""Turn reranker outputs into probabilities (isotonic regression on held-out queries) and
measure how well calibrated scores are (expected calibration error)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval_tagger.errors import RerankerError

BINS = 1000  # quantile bins of raw scores that the isotonic fit sees


@dataclass
class Calibrator:
    """A monotone map from raw reranker scores to probabilities: linear between knots.

    Knots are the weighted centres of the isotonic fit's blocks, so the map is strictly
    increasing between the first and last knot and keeps the reranker's order there.
    """

    x: np.ndarray
    y: np.ndarray

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(raw, self.x, self.y).astype(np.float32)

    def to_json(self) -> dict:
        return {"method": "isotonic", "x": self.x.tolist(), "y": self.y.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "Calibrator":
        if data.get("method") != "isotonic" or len(data.get("x", [])) != len(data.get("y", [])) or not data.get("x"):
            raise RerankerError(f"the reranker's calibration is not an isotonic map with matching knots ({data.get('method')!r}); retrain it with `rtag train-reranker`")
        return cls(np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64))


def fit_isotonic(raw: np.ndarray, labels: np.ndarray) -> Calibrator:
    """Isotonic regression of 0/1 ``labels`` on ``raw`` scores.

    The scores are first grouped into ``BINS`` quantile bins (a million held-out pairs
    become a thousand points), which keeps the fit fast and its knots few.
    """
    # imported here: only training fits, the query path never does
    from scipy.optimize import isotonic_regression

    raw = np.asarray(raw, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if len(raw) == 0 or labels.min() == labels.max():
        raise RerankerError("calibration needs held-out candidates with both right and wrong tags; train on more tagged products")
    order = np.argsort(raw, kind="stable")
    edges = np.linspace(0, len(raw), min(BINS, len(raw)) + 1).astype(np.int64)
    sums_x = np.add.reduceat(raw[order], edges[:-1])
    sums_y = np.add.reduceat(labels[order], edges[:-1])
    counts = np.diff(edges).astype(np.float64)
    # pool adjacent violators; blocks of equal fitted value are pooled too, so knots are strictly increasing
    fit = isotonic_regression(sums_y / counts, weights=counts)
    starts = fit.blocks[:-1]
    x_block = np.add.reduceat(sums_x, starts) / np.add.reduceat(counts, starts)
    return Calibrator(x_block, fit.x[starts])


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over ``bins`` equal-width probability bins, weighted by
    how many scores fall in each."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if len(probs) == 0:
        return 0.0
    which = np.minimum((probs * bins).astype(np.int64), bins - 1)
    conf = np.bincount(which, probs, minlength=bins)
    hits = np.bincount(which, labels, minlength=bins)
    return float(np.abs(hits - conf).sum() / len(probs))
