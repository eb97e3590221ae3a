"""Shared helpers of the encoders: device choice, batching and normalisation."""

from __future__ import annotations

import os

import numpy as np
import torch


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else CUDA when available, else CPU."""
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def on_gpu(device: str) -> bool:
    return str(device).startswith("cuda")


def device_of(encoder) -> str:
    """The device an encoder runs on; model-free encoders run on the CPU."""
    return getattr(encoder, "device", None) or "cpu"


def cpu_cores() -> int:
    """The CPU cores this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def text_batch_size(device: str) -> int:
    """Texts per forward pass: 128 on a CPU; 512 on a GPU, where larger batches spread the
    cost of launching each layer's kernels (not yet measured on a GPU: gpu_bench.py
    times MiniLM at several batch sizes to set it)."""
    return 512 if on_gpu(device) else 128


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return np.ascontiguousarray(vectors / norms)


def show_progress(n_items: int, progress: bool | None) -> bool:
    """Progress bars for long jobs only, unless asked for explicitly."""
    if progress is not None:
        return progress
    return n_items >= 256 and os.environ.get("RTAG_NO_PROGRESS") != "1"
