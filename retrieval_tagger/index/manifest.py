"""The manifest of an index folder: what built it, from what, and how.

Every index folder holds ``manifest.json``. Opening an index checks its format version
and the sizes of the files it lists; querying it checks that the encoders match.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from retrieval_tagger import __version__
from retrieval_tagger.errors import IndexFormatError, IndexNotFoundError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def new_manifest(**sections) -> dict:
    """A manifest with the header fields filled in and the given sections."""
    return {
        "format": "rtag-index",
        "format_version": FORMAT_VERSION,
        "rtag_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **sections,
    }


def record_files(manifest: dict, folder: Path) -> None:
    """List every artifact in ``folder`` with its size and sha256."""
    manifest["files"] = {
        p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }


def write_manifest(folder: Path, manifest: dict) -> None:
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


def read_manifest(folder: Path, verify: str = "size") -> dict:
    """Read and check a manifest: format, version, and each listed file.

    ``verify`` is ``"size"`` (fast, default), ``"sha256"`` (reads every file) or ``"none"``.
    """
    path = folder / MANIFEST
    if not folder.is_dir():
        raise IndexNotFoundError(f"no index at {folder}: build one with `rtag index CATALOG --name {folder.name}`")
    if not path.is_file():
        raise IndexFormatError(f"{folder} is not an rtag index (no {MANIFEST}); rebuild it with `rtag index ... --force`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{path} is corrupt ({exc}); rebuild the index with `rtag index ... --force`") from exc
    if manifest.get("format") != "rtag-index":
        raise IndexFormatError(f"{path} is not an rtag index manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"index {folder} has format version {version}, this rtag {__version__} reads version {FORMAT_VERSION}: "
            "rebuild it with `rtag index ... --force`"
        )
    for name, info in manifest.get("files", {}).items():
        file = folder / name
        problem = file_problem(file, info, verify)
        if problem == "missing":
            raise IndexFormatError(f"index {folder} is incomplete: {name} is missing; rebuild it with --force")
        if problem == "size":
            raise IndexFormatError(f"index {folder}: {name} has {file.stat().st_size} bytes, the manifest says {info['bytes']}; rebuild it")
        if problem == "sha256":
            raise IndexFormatError(f"index {folder}: {name} does not match its sha256 in the manifest; rebuild it")
    return manifest


def file_problem(file: Path, info: dict, verify: str = "sha256") -> str | None:
    """How a file differs from its manifest record ``{"bytes", "sha256"}``: "missing",
    "size", "sha256", or None. ``verify`` "none" checks that it exists, "size" also its
    size, "sha256" also its hash. Shared by every artifact folder's manifest."""
    if not file.is_file():
        return "missing"
    if verify in ("size", "sha256") and file.stat().st_size != info["bytes"]:
        return "size"
    if verify == "sha256" and sha256_file(file) != info["sha256"]:
        return "sha256"
    return None
