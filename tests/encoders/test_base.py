"""Shared encoder helpers: normalisation, batch sizes, and the device resolved without
torch where no GPU can be."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from retrieval_tagger.encoders import base
from retrieval_tagger.encoders.base import l2_normalise, text_batch_size


def test_l2_normalise_keeps_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32 and out.flags.c_contiguous


def test_device_is_resolved_without_torch_where_no_gpu_can_be(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not base.gpu_possible()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert not base.gpu_possible()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(base.sys, "platform", "linux")
    monkeypatch.setattr(base.os.path, "exists", lambda path: path == "/proc/driver/nvidia")
    assert base.gpu_possible()
    monkeypatch.setattr(base.os.path, "exists", lambda path: False)
    assert not base.gpu_possible()
    assert base.pick_device("cuda:1") == "cuda:1"
    probe = "import sys; from retrieval_tagger.encoders.base import pick_device; print(pick_device(), 'torch' in sys.modules)"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True).stdout.split() == ["cpu", "False"]


def test_text_batches_are_larger_on_a_gpu():
    assert text_batch_size("cuda") > text_batch_size("cpu") > 0
    assert text_batch_size("cuda:1") == text_batch_size("cuda")
