"""``rtag align``: trains a model folder from the catalog's photos and titles and says how
recall changed and how to use the folder."""

from __future__ import annotations

import json

from cli_runner import ok, rtag
from shapes import ALIGN_BASE, write_shapes_catalog

from retrieval_tagger.errors import AlignError


def test_align_writes_the_model_folder_and_reports_recall(tmp_path):
    catalog = write_shapes_catalog(tmp_path / "shapes", per_class=2)
    out = tmp_path / "model"
    result = ok("align", catalog, "--output", out, "--base", ALIGN_BASE, "--epochs", "2", "--batch-size", "8",
                "--val-fraction", "0.25", "--train-text-projection", "--seed", "3")
    manifest = json.loads((out / "manifest.json").read_text())
    training = manifest["training"]
    assert training["options"]["epochs"] == 2 and training["options"]["batch_size"] == 8 and training["options"]["seed"] == 3
    assert training["options"]["text_projection"] is True
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"aligned model written to {out}: {training['train_pairs']} training pairs, {training['val_pairs']} held out; "
                               f"{training['epochs_run']} epochs in ")
    assert lines[1].split() == ["validation", "recall", "image->text", "@1", "@10", "text->image", "@1", "@10"]
    before, after = lines[2].split(), lines[3].split()
    assert before[:2] == ["before", "(unaligned)"] and [float(v) for v in before[2:]] == [
        training["unaligned"][k] for k in ("i2t_r1", "i2t_r10", "t2i_r1", "t2i_r10")]
    assert after[0] == "after" and [float(v) for v in after[1:]] == [training["best"][k] for k in ("i2t_r1", "i2t_r10", "t2i_r1", "t2i_r10")]
    assert lines[4] == f"use it with: rtag index CATALOG --name NAME --image-model {out}"


def test_bad_options_are_refused_before_training(tmp_path):
    catalog = write_shapes_catalog(tmp_path / "shapes", per_class=1)
    result = rtag("align", catalog, "--output", tmp_path / "model", "--base", ALIGN_BASE, "--image-head", "conv")
    assert isinstance(result.exception, AlignError) and "image_head must be linear or mlp" in str(result.exception)
    assert not (tmp_path / "model").exists()
