"""The manifest of an index folder, and the kinds of folders an index holds.

Every index folder holds ``manifest.json`` (artifacts/ writes, seals and checks it); a
trained reranker lives in ``reranker/`` and stored vocabularies in ``vocabs/NAME/``, each
with its own manifest. The lexical signal's model is top-level files listed by the
index's own manifest (section ``lexical``; lexical_store.py). Opening an index (reader.py) checks its format, version, seal,
every file's size and sha256 and the structure of every array; querying it checks that
the encoders match.
"""

from __future__ import annotations

from pathlib import Path

from retrieval_tagger import artifacts
from retrieval_tagger.errors import (
    IndexFormatError,
    IndexNotFoundError,
    RerankerError,
    VocabError,
)

FORMAT_VERSION = 1
INDEX = artifacts.Format("rtag-index", FORMAT_VERSION, "an rtag index", IndexFormatError, "rebuild it with `rtag index ... --force`")
RERANKER_DIR = "reranker"
RERANKER = artifacts.Format("rtag-reranker", 1, "a reranker", RerankerError, "retrain it with `rtag train-reranker`")
VOCAB_DIR = "vocabs"
VOCAB = artifacts.Format("rtag-vocab", 1, "a stored vocabulary", VocabError, "add it again with `rtag vocab add --force`")


def new_manifest(**sections) -> dict:
    """An index manifest: the header, then the given sections."""
    return {**artifacts.header(INDEX), **sections}


def not_found(folder: Path) -> IndexNotFoundError:
    return IndexNotFoundError(f"no index at {folder}: build one with `rtag index CATALOG --name {folder.name}`")


def fix_of(folder: Path) -> str:
    """What to do about a damaged index at ``folder``."""
    return f"rebuild it with `rtag index CATALOG --name {folder} --force`"


def read_manifest(folder: Path, verify: str = "size") -> dict:
    """Read and check an index's manifest: format, version, seal, and each listed file.

    ``verify`` is ``"size"`` (fast, default), ``"sha256"`` (reads every file) or ``"none"``.
    """
    if not folder.is_dir():
        raise not_found(folder)
    return artifacts.read_manifest(folder, INDEX, verify, fix=fix_of(folder))


def open_folder(folder: Path, verify: str = "sha256") -> artifacts.Snapshot:
    """The index folder opened as one generation (artifacts.open_snapshot)."""
    return artifacts.open_snapshot(folder, INDEX, fix_of(folder), verify, missing=not_found(folder))
