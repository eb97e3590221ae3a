"""An interrupted alignment run resumes from its checkpoint to the same model."""

from __future__ import annotations

import pytest
from shapes import ALIGN_BASE, ALIGN_OPTS

from retrieval_tagger.align import checkpoint
from retrieval_tagger.align.train import AlignOptions, align


@pytest.mark.slow  # three runs of four epochs, one of them interrupted
def test_an_interrupted_run_resumes_from_its_checkpoint(shapes_csv, shapes_features, tmp_path, monkeypatch):
    opts = AlignOptions(**{**ALIGN_OPTS, "epochs": 4})
    whole = align(shapes_csv, tmp_path / "whole", base=ALIGN_BASE, options=opts, cache_dir=shapes_features)
    real_save, calls = checkpoint.save, []

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        align(shapes_csv, tmp_path / "resumed", base=ALIGN_BASE, options=opts, cache_dir=shapes_features)
    assert (tmp_path / "resumed" / ".rtag-align" / checkpoint.STATE).is_file()
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    monkeypatch.setattr(checkpoint, "save", real_save)
    resumed = align(shapes_csv, tmp_path / "resumed", base=ALIGN_BASE, options=opts, cache_dir=shapes_features)
    assert len(calls) == 2
    drop_time = lambda history: [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in history]  # noqa: E731
    assert drop_time(resumed["training"]["history"]) == drop_time(whole["training"]["history"])
    assert resumed["files"]["open_clip_model.safetensors"]["sha256"] == whole["files"]["open_clip_model.safetensors"]["sha256"]
