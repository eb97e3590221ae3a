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


def test_cpu_threads_follow_omp_num_threads_or_leave_the_choice_to_the_runtime(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert base.cpu_threads() == 3
    for unset_or_bad in ("", "many", "-2"):
        monkeypatch.setenv("OMP_NUM_THREADS", unset_or_bad)
        assert base.cpu_threads() == 0
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert base.cpu_threads() == 0


def test_cores_devices_and_where_an_encoder_runs(monkeypatch):
    monkeypatch.setattr(base.os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    assert base.cpu_cores() == 3  # the cores this process may use, not the host's
    assert base.on_gpu("cuda") and base.on_gpu("cuda:1") and not base.on_gpu("cpu")

    class Model:
        device = "cuda:0"

    assert base.device_of(Model()) == "cuda:0" and base.device_of(object()) == "cpu"
