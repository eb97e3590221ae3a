"""The indexes a server holds: one Tagger each, replaced whole when the folder changes.

A rebuild (``rtag index --force``), ``rtag vocab add`` or ``rtag train-reranker`` writes a
new folder or manifest and renames it into place; :func:`folder_state` sees that from a
few ``stat`` calls. :meth:`IndexPool.refresh` then loads a new Tagger beside the old one
and swaps the reference: batches already running keep the Tagger they started with, so no
request fails or mixes generations during a swap. A folder that cannot be loaded keeps
the old Tagger serving and its error is reported by ``/ready`` and the summary.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from retrieval_tagger.errors import IndexNotFoundError, RtagError
from retrieval_tagger.index import location

log = logging.getLogger(__name__)


def folder_state(folder: Path) -> tuple:
    """What changes when an index, its reranker or a stored vocabulary is replaced: the
    identity of the folder and of each manifest (inode, size, modification time)."""
    paths = [folder, folder / "manifest.json", folder / "reranker" / "manifest.json", folder / "vocabs"]
    vocabs = folder / "vocabs"
    if vocabs.is_dir():
        paths += sorted(p / "manifest.json" for p in vocabs.iterdir() if not p.name.startswith("."))
    state = []
    for path in paths:
        try:
            st = os.stat(path)
            state.append((str(path), st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            state.append((str(path), None))
    return tuple(state)


@dataclass
class Served:
    """One index as served: its current Tagger and what it was loaded from."""

    name: str
    folder: Path
    tagger: object
    state: tuple
    loaded_at: float = field(default_factory=time.time)
    reload_error: str | None = None  # why the last reload failed (the old Tagger serves on)


def _default_loader(folder: Path):
    from retrieval_tagger.pipeline import Tagger

    return Tagger.load(folder)


class IndexPool:
    """The served indexes by name (``names`` maps a name to its folder)."""

    def __init__(self, names: dict[str, Path], loader: Callable[[Path], object] = _default_loader):
        self.folders = dict(names)
        self.loader = loader
        self._served: dict[str, Served] = {}
        self._lock = threading.Lock()  # one load or reload at a time

    def load_all(self) -> None:
        """Load every index; an index that cannot be loaded stops the server's start."""
        for name, folder in self.folders.items():
            state = folder_state(folder)
            self._served[name] = Served(name, folder, self.loader(folder), state)
            log.info("serving index %s from %s", name, folder)

    @property
    def ready(self) -> bool:
        return len(self._served) == len(self.folders)

    def names(self) -> list[str]:
        return sorted(self.folders)

    def get(self, name: str) -> Served:
        """The index called ``name``; an unknown name is an IndexNotFoundError listing the
        served ones."""
        served = self._served.get(name)
        if served is None:
            raise IndexNotFoundError(f"no index {name!r} is served here; served: {', '.join(self.names()) or 'none'}")
        return served

    def refresh(self) -> list[str]:
        """Reload the indexes whose folders changed since they were loaded; returns their
        names. Called from a worker thread: loading models takes seconds."""
        swapped = []
        with self._lock:
            for name, served in list(self._served.items()):
                state = folder_state(served.folder)
                if state == served.state:
                    continue
                try:
                    tagger = self.loader(served.folder)
                except RtagError as exc:  # half-written or damaged: keep serving the old one
                    served.reload_error = str(exc)
                    served.state = state  # retried when the folder changes again
                    log.warning("index %s changed but cannot be loaded (%s); still serving the previous build", name, exc)
                    continue
                self._served[name] = Served(name, served.folder, tagger, state)
                swapped.append(name)
                log.info("index %s reloaded from %s", name, served.folder)
        return swapped


def served_names(requested: list[str]) -> dict[str, Path]:
    """The indexes to serve: each name or folder in ``requested``, or every index folder
    under the index home when none is named."""
    if requested:
        out = {}
        for item in requested:
            folder = location.resolve(item)
            if not (folder / "manifest.json").is_file():
                raise IndexNotFoundError(f"no index at {folder}: build it with `rtag index` or name another")
            if folder.name in out and out[folder.name].resolve() != folder.resolve():
                raise RtagError(f"two indexes would be served as {folder.name!r} ({out[folder.name]} and {folder}): "
                                "the name in the URL is the folder's name, so rename one")
            out[folder.name] = folder
        return out
    home = location.index_home()
    found = {p.name: p for p in sorted(home.iterdir()) if (p / "manifest.json").is_file()} if home.is_dir() else {}
    if not found:
        raise IndexNotFoundError(f"no index under {home} (RTAG_INDEX_DIR): build one with `rtag index` or pass --index")
    return found
