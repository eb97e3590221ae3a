"""ONNX Runtime's telemetry stays off (cache.runtime): tagging with the ONNX backends, in a
fresh process, writes nothing under ~/.cache but rtag's own cache and opens no connection."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from toy_catalog import IMAGE_SPEC

PROBE = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network access in a test")
socket.getaddrinfo = refuse
socket.socket.connect = refuse
from retrieval_tagger.cli.main import app
try:
    app(["tag", "--index", sys.argv[1], "--text", "red cotton shirt", "--image", sys.argv[2], "--top-n", "3"])
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(attempts), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def onnx_index(tmp_path_factory, catalog_csv, facet_spec, tiny_text_model):
    from retrieval_tagger.build import BuildOptions, build_index

    folder = tmp_path_factory.mktemp("telemetry") / "index"
    build_index(catalog_csv, folder, facet_spec,
                BuildOptions(text_model=tiny_text_model, image_model=IMAGE_SPEC, device="cpu", text_backend="onnx-int8", image_backend="onnx"))
    return folder


@pytest.mark.slow
def test_tagging_writes_only_rtags_cache_and_connects_nowhere(onnx_index, catalog_dir, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(os.environ["RTAG_CACHE_DIR"], home / ".cache" / "retrieval_tagger")  # the exports: tagging needs no torch
    env = {k: v for k, v in os.environ.items() if k not in ("RTAG_CACHE_DIR", "XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    env.update(HOME=str(home), CUDA_VISIBLE_DEVICES="")
    image = str(catalog_dir / "images" / "p00.png")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(onnx_index), image], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tags"]
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
    # without ORT_DISABLE_TELEMETRY before its import, onnxruntime writes ~/.cache/Microsoft/.../deviceid
    assert sorted(p.name for p in (home / ".cache").iterdir()) == ["retrieval_tagger"]
    assert sorted(p.name for p in home.iterdir()) == [".cache"]
