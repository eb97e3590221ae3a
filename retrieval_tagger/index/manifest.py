"""The manifest of an index folder: what built it, from what, and how.

Every index folder holds ``manifest.json`` (artifacts.py writes and checks it). Opening an
index checks its format version and the sizes of the files it lists; querying it checks
that the encoders match.
"""

from __future__ import annotations

from pathlib import Path

from retrieval_tagger import artifacts
from retrieval_tagger.errors import IndexFormatError, IndexNotFoundError

FORMAT_VERSION = 1
INDEX = artifacts.Format("rtag-index", FORMAT_VERSION, "an rtag index", IndexFormatError, "rebuild it with `rtag index ... --force`")


def new_manifest(**sections) -> dict:
    """An index manifest: the header, then the given sections."""
    return {**artifacts.header(INDEX), **sections}


def read_manifest(folder: Path, verify: str = "size") -> dict:
    """Read and check an index's manifest: format, version, and each listed file.

    ``verify`` is ``"size"`` (fast, default), ``"sha256"`` (reads every file) or ``"none"``.
    """
    if not folder.is_dir():
        raise IndexNotFoundError(f"no index at {folder}: build one with `rtag index CATALOG --name {folder.name}`")
    return artifacts.read_manifest(folder, INDEX, verify)
