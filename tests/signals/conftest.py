"""A hand-made fitting case shared by the tests of the fusion fit and of the names signal."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.signals.fit import MIN_GROUP_SAMPLES


@pytest.fixture()
def two_facets():
    """40 queries; facets x (cols 0, 1), y (cols 2, 3), z (cols 4, 5: few examples), free (6, 7).

    Signal A ranks the true x value first and the wrong y value first; B the reverse.
    Returns (truth, scores by signal, groups by name).
    """
    i = np.arange(40)
    truth = np.zeros((40, 8), dtype=bool)
    truth[i, np.where(i % 2 == 0, 0, 1)] = True
    truth[i, np.where(i % 4 < 2, 2, 3)] = True
    few = i < MIN_GROUP_SAMPLES - 1
    truth[i[few], np.where(i[few] % 3 == 0, 4, 5)] = True
    truth[i, np.where(i % 5 == 0, 6, 7)] = True
    right, wrong = truth.astype(np.float32), (~truth).astype(np.float32)
    a = np.hstack([right[:, :2], wrong[:, 2:4], right[:, 4:]])
    b = np.hstack([wrong[:, :2], right[:, 2:4], right[:, 4:]])
    groups = {"x": np.array([0, 1]), "y": np.array([2, 3]), "z": np.array([4, 5]), "*free*": np.array([6, 7])}
    return truth, {"A": a, "B": b}, groups
