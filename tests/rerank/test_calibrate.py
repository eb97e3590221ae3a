"""Isotonic calibration: monotone and calibrated, and the same fit as the hand-written
pool-adjacent-violators it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.errors import RerankerError
from retrieval_tagger.rerank import calibrate


def test_isotonic_calibration_is_monotone_and_calibrated(monkeypatch):
    rng = np.random.default_rng(0)
    raw = rng.random(20000)
    labels = (rng.random(20000) < raw ** 2).astype(float)  # true probability raw^2
    monkeypatch.setattr(calibrate, "BINS", 200)
    cal = calibrate.fit_isotonic(raw, labels)
    grid = np.linspace(-0.5, 1.5, 1001)
    probs = cal(grid)
    assert np.all(np.diff(probs) >= 0) and probs.min() >= 0 and probs.max() <= 1
    assert np.all(np.diff(cal(np.linspace(cal.x[0], cal.x[-1], 500))) > 0)  # strictly between knots
    assert calibrate.expected_calibration_error(cal(raw), labels) < 0.02
    assert calibrate.expected_calibration_error(raw, labels) > 0.1  # raw scores overstate
    assert calibrate.Calibrator.from_json(cal.to_json())(grid) == pytest.approx(probs)
    with pytest.raises(RerankerError, match="both right and wrong"):
        calibrate.fit_isotonic(raw, np.ones_like(raw))


def pool_adjacent_violators(y, w):
    """The hand-written fit rtag used before scipy's: each block's first position and mean."""
    starts, means, weights = [], [], []
    for i in range(len(y)):
        starts.append(i)
        means.append(float(y[i]))
        weights.append(float(w[i]))
        while len(means) > 1 and means[-2] >= means[-1]:
            total = weights[-2] + weights[-1]
            means[-2] = (means[-2] * weights[-2] + means[-1] * weights[-1]) / total
            weights[-2] = total
            del starts[-1], means[-1], weights[-1]
    return np.asarray(starts), np.asarray(means)


@pytest.mark.parametrize("seed, n, bins", [(0, 5000, 1000), (1, 300, 1000), (2, 20000, 97), (3, 40, 40)])
def test_isotonic_fit_equals_the_hand_written_pool_adjacent_violators(seed, n, bins, monkeypatch):
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=n)
    # coarse scores make ties and runs of equal bin means, which both fits must pool alike
    raw = np.round(raw, 1) if seed % 2 else raw
    labels = (rng.random(n) < 1 / (1 + np.exp(-2 * raw))).astype(np.float64)
    monkeypatch.setattr(calibrate, "BINS", bins)
    cal = calibrate.fit_isotonic(raw, labels)

    order = np.argsort(raw, kind="stable")
    edges = np.linspace(0, n, min(bins, n) + 1).astype(np.int64)
    sums_x, sums_y = np.add.reduceat(raw[order], edges[:-1]), np.add.reduceat(labels[order], edges[:-1])
    counts = np.diff(edges).astype(np.float64)
    starts, means = pool_adjacent_violators(sums_y / counts, counts)
    knots = np.add.reduceat(sums_x, starts) / np.add.reduceat(counts, starts)
    assert len(cal.x) == len(knots) > 1
    np.testing.assert_allclose(cal.x, knots, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cal.y, means, rtol=1e-12, atol=1e-12)
    grid = np.linspace(raw.min() - 1, raw.max() + 1, 1001)
    np.testing.assert_allclose(cal(grid), np.interp(grid, knots, means).astype(np.float32), rtol=1e-6)
