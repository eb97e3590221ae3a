"""A cache of ONNX exports of models, one folder per model checksum and export format.

Exports are kept under ``$RTAG_CACHE_DIR`` (default ``~/.cache/retrieval_tagger``). Each
folder holds ``model.onnx`` and a ``manifest.json`` (format, version, source checksum,
library versions, size and sha256 of its files); it is written atomically
(artifacts.write_folder), and a folder that fails its checks is exported again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Callable

from retrieval_tagger import artifacts
from retrieval_tagger.errors import EncoderError

MODEL_FILE = "model.onnx"


def cache_root() -> Path:
    return Path(os.environ.get("RTAG_CACHE_DIR") or Path.home() / ".cache" / "retrieval_tagger")


def cached(kind: str, key: str, fmt: str, version: int, write: Callable[[Path], dict], what: str) -> tuple[Path, dict]:
    """The export folder ``kind/key`` and its manifest, calling ``write(folder)`` (which
    writes ``model.onnx`` and returns the manifest's content) when the cache has none."""
    found = find(kind, key, fmt, version)
    if found is not None:
        return found
    folder = _folder(kind, key, version)
    shutil.rmtree(folder, ignore_errors=True)  # absent, unreadable or corrupt: export again
    logging.getLogger("rtag").info("exporting %s to ONNX once (cached in %s)", what, folder)
    with artifacts.write_folder(folder, existing="keep") as tmp:  # "keep": another process finished first
        artifacts.write_manifest(tmp, {**artifacts.header(_format(fmt, version)), **write(tmp)})
    return folder, json.loads((folder / artifacts.MANIFEST).read_text(encoding="utf-8"))


def find(kind: str, key: str, fmt: str, version: int) -> tuple[Path, dict] | None:
    """The export folder ``kind/key`` and its manifest when the cache holds an intact export
    of that format (every file checked against its sha256), else None."""
    folder = _folder(kind, key, version)
    manifest = read_manifest(folder, fmt, version)
    return None if manifest is None else (folder, manifest)


def _folder(kind: str, key: str, version: int) -> Path:
    return cache_root() / kind / f"{key}-v{version}"


def _format(fmt: str, version: int) -> artifacts.Format:
    return artifacts.Format(fmt, version, "an ONNX export", EncoderError, "it is exported again")


def read_manifest(folder: Path, fmt: str, version: int) -> dict | None:
    """The manifest of a complete, intact export of that format, else None."""
    try:
        manifest = artifacts.read_manifest(folder, _format(fmt, version), verify="sha256")
    except EncoderError:
        return None
    if "files" in manifest:
        return manifest if MODEL_FILE in manifest["files"] else None
    # written before the shared manifest header: {"sha256": {"model.onnx": ...}}
    model = folder / MODEL_FILE
    if not model.is_file() or manifest.get("sha256", {}).get(MODEL_FILE) != artifacts.sha256_file(model):
        return None
    return manifest


def runtime():
    """The onnxruntime module, with its telemetry off: rtag stays offline and writes
    nothing under ~/.cache but its own cache.

    ONNX Runtime reads ORT_DISABLE_TELEMETRY when it is first imported (without it, its
    import writes a device id and an event database under ~/.cache/Microsoft), so the
    variable is set here, before that import, unless the user set it;
    ``disable_telemetry_events`` covers the events of a process that imported it earlier.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    if hasattr(onnxruntime, "disable_telemetry_events"):
        onnxruntime.disable_telemetry_events()
    return onnxruntime


def cpu_session(folder: Path, threads: int | None = None):
    """An ONNX Runtime session on the CPU for the export in ``folder``, with ``threads``
    intra-op threads (default: base.cpu_threads)."""
    from retrieval_tagger.encoders.base import cpu_threads

    onnxruntime = runtime()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(threads or cpu_threads())
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])


def versions() -> dict:
    import onnx
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": runtime().__version__}
