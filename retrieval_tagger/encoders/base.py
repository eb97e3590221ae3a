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
