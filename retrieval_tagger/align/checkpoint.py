"""Training state of ``rtag align``: checkpoints to resume from and the best weights.

Tensors go to safetensors, the rest to JSON; a checkpoint is used only when its
fingerprint (starting model, data hash, options) matches the run resuming it.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from retrieval_tagger import artifacts

log = logging.getLogger("rtag.align")
STATE = "checkpoint.json"
WEIGHTS = "checkpoint.safetensors"
BEST = "best.safetensors"
SCORE = "mean_r1"


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


def _save_tensors(path: Path, tensors: dict) -> None:
    with artifacts.atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))


def save(work: Path, fingerprint: dict, state: dict, aligner, optimizer) -> None:
    tensors = {n: p.detach().cpu() for n, p in aligner.named_trainable().items()}
    names = list(aligner.named_trainable())
    index = {id(p): n for n, p in aligner.named_trainable().items()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                tensors[f"optim.{index[id(p)]}.{key}"] = torch.as_tensor(value).detach().cpu()
    best = state.pop("_best_weights", None)
    if best is not None:
        _save_tensors(work / BEST, best)
    _save_tensors(work / WEIGHTS, tensors)
    artifacts.write_json(work / STATE, {"fingerprint": fingerprint, "state": state, "trainable": names}, indent=1)


def load(work: Path, fingerprint: dict, aligner, optimizer) -> dict | None:
    """The saved state when it belongs to this run (weights and optimizer restored), else None."""
    meta = work / STATE
    if not meta.is_file() or not (work / WEIGHTS).is_file():
        return None
    try:
        saved = json.loads(meta.read_text(encoding="utf-8"))
        tensors = load_file(str(work / WEIGHTS))
    except (OSError, ValueError) as exc:
        log.warning("ignoring an unreadable checkpoint in %s (%s); starting over", work, exc)
        return None
    params = aligner.named_trainable()
    if saved.get("fingerprint") != fingerprint or saved.get("trainable") != list(params):
        log.warning("the checkpoint in %s is from another model, catalog or options; starting over", work)
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
    path = work / BEST
    if not path.is_file():
        return
    tensors = load_file(str(path))
    with torch.no_grad():
        for name, p in aligner.named_trainable().items():
            p.copy_(tensors[name].to(p.device))


def clear(work: Path) -> None:
    """Remove the work area once the model folder is written."""
    shutil.rmtree(work, ignore_errors=True)
