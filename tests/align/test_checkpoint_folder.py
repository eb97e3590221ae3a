"""align/checkpoint.py: a checkpoint is one folder whose manifest holds the state and the
sha256 of its weights, so a resume never pairs files of different epochs; a damaged or
foreign one is ignored with a warning (training starts over), never a traceback."""

from __future__ import annotations

import logging

import pytest
import torch
from toy_aligner import FINGERPRINT, Toy

from retrieval_tagger.align import checkpoint


def save_epoch(work, epoch: int, better: bool = True) -> None:
    toy, state = Toy(), checkpoint.fresh({"mean_r1": 0.0, "mean_r10": 0.0})
    if (work / checkpoint.STATE).is_file():
        state = checkpoint.load(work, FINGERPRINT, toy, toy.optimizer)
    toy.epoch(float(epoch))
    checkpoint.advance(state, {"epoch": epoch, "mean_r1": float(epoch if better else -epoch), "mean_r10": 0.0}, toy)
    checkpoint.save(work, FINGERPRINT, state, toy, toy.optimizer)


def resumed(work):
    toy = Toy()
    state = checkpoint.load(work, FINGERPRINT, toy, toy.optimizer)
    best = Toy()
    checkpoint.restore_best(work, best)
    value = lambda t: float(t.params["head.bias"].detach()[0])  # noqa: E731
    return state and state["epoch"], value(toy), value(best)


def test_each_checkpoint_is_one_folder_and_the_best_weights_carry_over(tmp_path):
    work = tmp_path / "work"
    save_epoch(work, 1)
    save_epoch(work, 2, better=False)  # not better: epoch 1's best weights come along
    assert sorted(p.name for p in (work / checkpoint.FOLDER).iterdir()) == ["best.safetensors", "checkpoint.safetensors", "manifest.json"]
    assert resumed(work) == (2, 2.0, 1.0)
    assert [p.name for p in work.iterdir()] == [checkpoint.FOLDER]


@pytest.mark.parametrize("damage", [
    lambda folder: (folder / "checkpoint.safetensors").write_bytes(b"\0" * (folder / "checkpoint.safetensors").stat().st_size),
    lambda folder: (folder / "best.safetensors").unlink(),
    lambda folder: (folder / "manifest.json").write_text("{"),
])
def test_a_damaged_checkpoint_is_ignored_with_a_warning(tmp_path, damage, caplog):
    work = tmp_path / "work"
    save_epoch(work, 1)
    damage(work / checkpoint.FOLDER)
    toy = Toy()
    with caplog.at_level(logging.WARNING, logger="rtag.align"):
        assert checkpoint.load(work, FINGERPRINT, toy, toy.optimizer) is None
    assert "ignoring an unreadable checkpoint" in caplog.text
    assert float(toy.params["head.bias"].detach()[0]) == 0.0  # nothing half-restored


def test_a_checkpoint_of_another_shape_is_not_loaded_half_way(tmp_path, caplog):
    work = tmp_path / "work"
    save_epoch(work, 1)
    other = Toy()
    other.params["head.weight"] = torch.nn.Parameter(torch.zeros(5, 3))  # same names, another shape
    with caplog.at_level(logging.WARNING, logger="rtag.align"):
        assert checkpoint.load(work, FINGERPRINT, other, other.optimizer) is None
    assert "does not fit the model" in caplog.text and float(other.params["head.bias"].detach()[0]) == 0.0
