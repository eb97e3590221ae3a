"""`rtag eval --plot`: a PNG of each facet's precision–coverage curve, and clear errors
when there is nothing to plot or matplotlib is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from retrieval_tagger import precision
from retrieval_tagger.errors import RtagError
from retrieval_tagger.jobs.precision_plot import write_plot


def section():
    rng = np.random.default_rng(0)
    s = rng.random(200)
    c = rng.random(200) < s
    curve = precision.curve(s, c)
    rows = {f"{t:g}": precision.kept(s, c, curve.threshold(t)) for t in precision.TARGETS}
    return {"targets": list(precision.TARGETS), "facets": {"colour": rows}, "curves": {"colour": curve.to_json()}}


def test_the_plot_is_a_png(tmp_path):
    out = write_plot(section(), tmp_path / "curve.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))


def test_nothing_to_plot_is_said(tmp_path):
    with pytest.raises(RtagError, match="no precision–coverage curve to plot: no tables"):
        write_plot({"error": "no tables"}, tmp_path / "curve.png")


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(RtagError, match=r"--plot needs matplotlib: pip install 'retrieval-tagger\[plot\]'"):
        write_plot(section(), tmp_path / "curve.png")
