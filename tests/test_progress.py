"""progress.py: when a job shows a bar, and that a hidden bar does nothing."""

from __future__ import annotations

from retrieval_tagger.progress import LONG_JOB, progress_bar, show_progress


def test_bars_show_for_long_jobs_or_when_asked(monkeypatch):
    monkeypatch.delenv("RTAG_NO_PROGRESS", raising=False)
    assert show_progress(LONG_JOB - 1, None) is False
    assert show_progress(LONG_JOB, None) is True
    assert show_progress(3, None, min_items=1) is True  # e.g. epochs, each long
    assert show_progress(3, True) is True
    assert show_progress(10**6, False) is False
    monkeypatch.setenv("RTAG_NO_PROGRESS", "1")
    assert show_progress(10**6, None) is False
    assert show_progress(3, True) is True  # asking explicitly wins


def test_a_hidden_bar_writes_nothing_and_a_shown_one_counts(capsys):
    with progress_bar(10, "items", "item", progress=False) as bar:
        bar.update(4)
        bar.set_postfix(loss="0.1")
    assert capsys.readouterr().err == ""
    with progress_bar(10, "items", "item", progress=True, initial=2) as bar:
        bar.update(3)
        assert bar.n == 5
    assert "items" in capsys.readouterr().err
