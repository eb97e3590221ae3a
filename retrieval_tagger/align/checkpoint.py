"""Training state of ``rtag align``: checkpoints to resume from and the best weights.

A checkpoint is one folder, ``checkpoint/`` in the work area, written atomically
(artifacts.write_folder): its manifest holds the state (epoch, history, fingerprint), and
lists the weights with the optimizer's state and the best epoch's weights with their
sha256, so a resume never pairs files of different epochs. It is used only when its
fingerprint (starting model, data hash, options) matches the run resuming it; anything
unreadable is ignored with a warning and training starts over.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save_file

from retrieval_tagger import artifacts
from retrieval_tagger.errors import AlignError

log = logging.getLogger("rtag.align")
FOLDER = "checkpoint"
STATE = f"{FOLDER}/{artifacts.MANIFEST}"  # the state lives in the checkpoint's manifest
WEIGHTS = "checkpoint.safetensors"
BEST = "best.safetensors"
SCORE = "mean_r1"
CHECKPOINT = artifacts.Format("rtag-align-checkpoint", 1, "an alignment checkpoint", AlignError, "it is ignored and training starts over")


def fresh(unaligned: dict) -> dict:
    """The state before the first epoch; ``unaligned`` is the starting model's recall."""
    return {"epoch": 0, "step": 0, "history": [{**unaligned, "epoch": 0}], "best": None, "best_epoch": 0, "since_best": 0}


def _score(metrics: dict) -> float:
    return metrics[SCORE] + 0.5 * metrics["mean_r10"]


def advance(state: dict, metrics: dict, aligner) -> None:
    """Record an epoch; keep its weights as the best when validation recall improved."""
    state["epoch"] = metrics["epoch"]
    state["history"].append(metrics)
    if state["best"] is None or _score(metrics) > _score(state["best"]):
        state["best"], state["best_epoch"], state["since_best"] = metrics, metrics["epoch"], 0
        state["_best_weights"] = {n: p.detach().cpu().clone() for n, p in aligner.named_trainable().items()}
    else:
        state["since_best"] += 1


def save(work: Path, fingerprint: dict, state: dict, aligner, optimizer) -> None:
    """Write the checkpoint folder: trainable weights and optimizer state, the best
    epoch's weights (carried over from the previous checkpoint when this epoch is not
    better) and the state, all or nothing."""
    tensors = {n: p.detach().cpu() for n, p in aligner.named_trainable().items()}
    names = list(aligner.named_trainable())
    index = {id(p): n for n, p in aligner.named_trainable().items()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                tensors[f"optim.{index[id(p)]}.{key}"] = torch.as_tensor(value).detach().cpu()
    best = state.pop("_best_weights", None)
    folder = work / FOLDER
    with artifacts.write_folder(folder) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / WEIGHTS))
        if best is not None:
            save_file({k: v.contiguous() for k, v in best.items()}, str(tmp / BEST))
        elif (folder / BEST).is_file():
            _carry(folder / BEST, tmp / BEST)
        artifacts.write_manifest(tmp, {**artifacts.header(CHECKPOINT), "fingerprint": fingerprint, "state": state, "trainable": names})


def _carry(src: Path, dst: Path) -> None:
    """The previous checkpoint's file in the new one: a hard link (files are never changed
    in place), or a copy where links are not possible."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _open(work: Path):
    """The checkpoint folder opened (artifacts.open_snapshot), or None when there is none."""
    try:
        return artifacts.open_snapshot(work / FOLDER, CHECKPOINT, missing=FileNotFoundError())
    except FileNotFoundError:
        return None


def load(work: Path, fingerprint: dict, aligner, optimizer) -> dict | None:
    """The saved state when it belongs to this run (weights and optimizer restored), else None."""
    try:
        held = _open(work)
        if held is None:
            return None
        saved = held.manifest
        tensors = load_tensors(held.read(WEIGHTS))
    except Exception as exc:  # a damaged or foreign checkpoint is only a lost head start
        log.warning("ignoring an unreadable checkpoint in %s (%s); starting over", work, exc)
        return None
    params = aligner.named_trainable()
    if saved.get("fingerprint") != fingerprint or saved.get("trainable") != list(params):
        log.warning("the checkpoint in %s is from another model, catalog or options; starting over", work)
        return None
    if any(name not in tensors or tensors[name].shape != p.shape for name, p in params.items()):
        log.warning("the checkpoint in %s does not fit the model; starting over", work)
        return None
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[name])
    for group in optimizer.param_groups:
        for p in group["params"]:
            name = next(n for n, q in params.items() if q is p)
            prefix = f"optim.{name}."
            state = {k[len(prefix):]: v.to(p.device) for k, v in tensors.items() if k.startswith(prefix)}
            if state:
                optimizer.state[p] = state
    log.info("resuming alignment after epoch %d", saved["state"]["epoch"])
    return saved["state"]


def restore_best(work: Path, aligner) -> None:
    """Load the best epoch's weights into the trainable parameters."""
    held = _open(work)
    if held is None or BEST not in held.manifest["files"]:
        return
    tensors = load_tensors(held.read(BEST))
    with torch.no_grad():
        for name, p in aligner.named_trainable().items():
            p.copy_(tensors[name].to(p.device))


def clear(work: Path) -> None:
    """Remove the work area once the model folder is written."""
    shutil.rmtree(work, ignore_errors=True)
