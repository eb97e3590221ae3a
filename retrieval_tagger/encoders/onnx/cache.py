"""A cache of ONNX exports of models, one folder per model checksum and export format.

Exports are kept under ``$RTAG_CACHE_DIR`` (default ``~/.cache/retrieval_tagger``). Each
folder holds ``model.onnx`` and a ``manifest.json`` (format, version, source checksum,
library versions, sha256 of the model file); it is written to a temporary folder that is
renamed into place, and a folder that fails its checks is exported again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

MODEL_FILE = "model.onnx"
MANIFEST = "manifest.json"


def cache_root() -> Path:
    return Path(os.environ.get("RTAG_CACHE_DIR") or Path.home() / ".cache" / "retrieval_tagger")


def cached(kind: str, key: str, fmt: str, version: int, write: Callable[[Path], dict], what: str) -> tuple[Path, dict]:
    """The export folder ``kind/key`` and its manifest, calling ``write(folder)`` (which
    writes ``model.onnx`` and returns the manifest's content) when the cache has none."""
    folder = cache_root() / kind / f"{key}-v{version}"
    manifest = read_manifest(folder, fmt, version)
    if manifest is not None:
        return folder, manifest
    shutil.rmtree(folder, ignore_errors=True)  # absent, unreadable or corrupt: export again
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        print(f"rtag: exporting {what} to ONNX once (cached in {folder})", file=sys.stderr, flush=True)
        manifest = {"format": fmt, "format_version": version, **write(tmp)}
        manifest["sha256"] = {MODEL_FILE: sha256(tmp / MODEL_FILE)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if folder.exists():  # another process finished first
            shutil.rmtree(tmp)
            return folder, read_manifest(folder, fmt, version) or manifest
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder, manifest


def read_manifest(folder: Path, fmt: str, version: int) -> dict | None:
    """The manifest of a complete, intact export of that format, else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("format") != fmt or manifest.get("format_version") != version:
        return None
    model = folder / MODEL_FILE
    if not model.is_file() or manifest.get("sha256", {}).get(MODEL_FILE) != sha256(model):
        return None
    return manifest


def cpu_session(folder: Path, threads: int | None = None):
    """An ONNX Runtime session on the CPU for the export in ``folder``, with ``threads``
    intra-op threads (default: torch's thread count, which follows OMP_NUM_THREADS)."""
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])


def versions() -> dict:
    import onnx
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
