"""Shared helpers of the encoders: device choice, batching and normalisation.

Nothing here imports torch: the ONNX query path runs without it, and the device is
resolved once (:func:`pick_device`) by whoever loads the encoders, then handed down.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else CUDA when available, else CPU.

    torch is asked only where a GPU may exist: without an NVIDIA (or ROCm) driver, or with
    every device hidden by CUDA_VISIBLE_DEVICES, the answer is the CPU without importing it.
    """
    if device:
        return device
    return _default_device()


@functools.lru_cache(maxsize=1)
def _default_device() -> str:
    if not gpu_possible():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def gpu_possible() -> bool:
    """False when this process certainly sees no GPU (no driver, or every device hidden),
    which is known without importing torch; True when only torch can tell."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    # CUDA stops reading the list at its first invalid entry: "" and "-1" hide every device
    if visible is not None and (not visible.strip() or visible.split(",")[0].strip().startswith("-")):
        return False
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd"))
    return True


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


def cpu_threads() -> int:
    """Intra-op threads for CPU inference: OMP_NUM_THREADS when set (which torch follows
    too), else 0, which lets ONNX Runtime use one thread per physical core, as torch does."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


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

