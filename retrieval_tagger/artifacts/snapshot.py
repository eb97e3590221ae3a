"""Reading a saved folder as one generation: its manifest and every file it lists, opened
together and held open, so that the folder being replaced or removed afterwards changes
nothing for the reader.

The folder is opened first and everything else relative to that open folder, so all
files come from the folder the manifest was read from; they stay readable after a
rebuild deletes them (the reader holds them). Writers delete a folder only after renaming
it aside (writes.py), so a folder no longer found under its name is one being deleted:
it is opened again. While a folder is missing because a writer has set it aside (between
the two renames of a replacement, or after a writer was killed there) it is read from
where it was set aside. Sizes are checked at open; content against the manifest's
sha256 when a file is first read or checked (once per process while it is unchanged).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import weakref
from pathlib import Path

from retrieval_tagger.artifacts.records import (
    MANIFEST,
    FileProblem,
    Format,
    check_fd,
    check_level,
    parse_manifest,
    state_of,
)

_TRIES = 5
_ASIDE = re.compile(r"\.(.+)\.old-\d+")  # a folder a writer set aside (writes.aside_of)
_FD_PATHS = Path("/proc/self/fd").is_dir()


class _Vanished(Exception):
    """The folder being opened was replaced or removed by a writer meanwhile."""


class Snapshot:
    """An opened saved folder: ``manifest``, ``generation`` (sha256 of the manifest's
    bytes) and its listed files, held open. Build it with :func:`open_snapshot`."""

    def __init__(self, where: "_Where", fmt: Format, fix: str, verify: str, data: bytes, manifest: dict, files: dict[str, int]):
        self.folder, self.fmt, self.fix, self.verify_level = where.shown, fmt, fix, verify
        self.manifest = manifest
        self.generation = hashlib.sha256(data).hexdigest()
        self._where, self._dir, self._files = where, where.fd, files
        self._checked: set[tuple[str, str]] = set()
        weakref.finalize(self, _close, [where.fd, *files.values()])

    def names(self) -> list[str]:
        """The files the manifest lists."""
        return list(self._files)

    def check(self, name: str, level: str | None = None) -> None:
        """Check file ``name`` against its record at the snapshot's verify level (or at
        ``level``, e.g. "sha256" for a file whose parser cannot survive damage), once."""
        level = level or self.verify_level
        if (name, level) in self._checked or (name, "sha256") in self._checked:
            return
        problem = check_fd(name, self._fd(name), self.manifest["files"][name], level)
        if problem is not None:
            raise self._error(problem)
        self._checked.add((name, level))

    def read(self, name: str, size: int | None = None, level: str | None = None) -> bytes:
        """The bytes of file ``name`` (its first ``size`` bytes when given), checked
        against the manifest (at ``level`` when given, see :meth:`check`)."""
        self.check(name, level)
        fd, blocks, offset = self._fd(name), [], 0
        while (size is None or offset < size) and (block := os.pread(fd, 1 << 24 if size is None else min(1 << 24, size - offset), offset)):
            blocks.append(block)
            offset += len(block)
        return b"".join(blocks)

    def path(self, name: str) -> str:
        """A path that opens the held file ``name`` (for libraries that read by name),
        checked first; where the OS has no such paths, the file's path in the folder."""
        self.check(name)
        return f"/proc/self/fd/{self._fd(name)}" if _FD_PATHS else str(self.folder / name)

    def child(self, sub: str, fmt: Format, fix: str | None = None) -> "Snapshot | None":
        """The saved folder ``sub`` inside this one, or None when it has none (no folder,
        or no manifest); raises ``fmt.error`` when it is damaged."""
        return _open(Path(sub), self._dir, self.folder / sub, fmt, fix or fmt.fix, self.verify_level, None)

    def subfolders(self, sub: str) -> list[str]:
        """The folders inside ``sub`` (e.g. the stored vocabularies), with those a writer
        has set aside (see :meth:`child`)."""
        try:
            fd = os.open(sub, os.O_RDONLY | os.O_DIRECTORY, dir_fd=self._dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        try:
            names = [n for n in os.listdir(fd) if _is_dir(n, fd)]
        finally:
            os.close(fd)
        aside = {m.group(1) for m in map(_ASIDE.fullmatch, names) if m}
        return sorted({n for n in names if not n.startswith(".")} | aside)

    def is_current(self) -> bool:
        """Whether the folder's name still leads to the folder this snapshot read (or,
        while a writer has it set aside, to where it was set aside)."""
        return self._where.stable()

    def _fd(self, name: str) -> int:
        if name not in self._files:
            raise self.fmt.error(f"{self.folder}'s manifest does not list {name}; {self.fix}")
        return self._files[name]

    def _error(self, problem: FileProblem):
        return self.fmt.error(f"{self.folder} is {state_of(problem)}: {problem}; {self.fix}")


class _Where:
    """An open folder and the names that lead to it: its own name, and the name it was
    opened by (the same, or where a writer set it aside), relative to ``parent``."""

    def __init__(self, fd: int, name: Path, opened: Path, parent: int | None, shown: Path):
        self.fd, self.name, self.opened, self.parent, self.shown = fd, name, opened, parent, shown

    def stable(self) -> bool:
        mine = os.fstat(self.fd)
        for candidate in (self.name, self.opened):
            try:
                now = os.stat(candidate, dir_fd=self.parent)
            except (FileNotFoundError, NotADirectoryError):
                continue
            return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino) and mine.st_nlink > 0
        return False


def open_snapshot(folder: str | Path, fmt: Format, fix: str | None = None, verify: str = "sha256", missing=None) -> Snapshot:
    """Open the saved folder ``folder`` as one generation (see the module's docstring).

    Raises ``missing`` (an exception) when there is no such folder, by default
    ``fmt.error``; ``fmt.error`` when it is incomplete, another format or version, or a
    file's size differs from the manifest (content is checked as files are read)."""
    folder, fix = Path(folder), fix or fmt.fix
    check_level(verify)
    missing = missing or fmt.error(f"{folder} is not {fmt.what} folder (it does not exist); {fix}")
    return _open(folder, None, folder, fmt, fix, verify, missing)


def _open(folder: Path, parent: int | None, shown: Path, fmt: Format, fix: str, verify: str, missing) -> Snapshot | None:
    """Open ``folder`` (relative to the open folder ``parent`` when given); when there is
    none, raise ``missing``, or return None when ``missing`` is None (a subfolder, which
    is also None without a manifest)."""
    for _ in range(_TRIES):
        where = _open_dir(folder, parent, shown)
        if where is None:
            if missing is None:
                return None
            raise missing
        try:
            return _open_at(where, fmt, fix, verify, subfolder=missing is None)
        except _Vanished:
            os.close(where.fd)
        except BaseException:
            os.close(where.fd)
            raise
    raise fmt.error(f"{shown} kept changing while it was opened (a writer replacing it again and again?): try again")


def _open_dir(folder: Path, parent: int | None, shown: Path) -> _Where | None:
    """``folder`` opened, or when it is missing, the old folder a writer set aside
    (``.NAME.old-PID``, writes.py); None when there is neither."""
    flags = os.O_RDONLY | os.O_DIRECTORY
    try:
        return _Where(os.open(folder, flags, dir_fd=parent), folder, folder, parent, shown)
    except (FileNotFoundError, NotADirectoryError):
        pass
    prefix = f".{folder.name}.old-"
    try:
        around = os.open(folder.parent, flags, dir_fd=parent)
    except OSError:
        return None
    try:
        siblings = os.listdir(around)
    finally:
        os.close(around)
    for name in sorted((n for n in siblings if n.startswith(prefix)), reverse=True):
        aside = folder.with_name(name)
        try:
            return _Where(os.open(aside, flags, dir_fd=parent), folder, aside, parent, shown)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return None


def _open_at(where: _Where, fmt: Format, fix: str, verify: str, subfolder: bool) -> Snapshot | None:
    shown = where.shown
    try:
        data = _read_at(MANIFEST, where.fd)
    except FileNotFoundError:
        if not where.stable():
            raise _Vanished from None
        if subfolder:
            return None
        raise fmt.error(f"{shown} is not {fmt.what} folder (no {MANIFEST}); {fix}") from None
    manifest = parse_manifest(data, shown / MANIFEST, fmt, fix)
    files: dict[str, int] = {}
    try:
        for name in manifest.get("files", {}):
            try:
                files[name] = os.open(name, os.O_RDONLY, dir_fd=where.fd)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                if not where.stable():
                    raise _Vanished from None
                raise fmt.error(f"{shown} is incomplete: {name} is missing; {fix}") from None
            if verify != "none":
                problem = check_fd(name, files[name], manifest["files"][name], "size")
                if problem is not None:
                    raise fmt.error(f"{shown} is {state_of(problem)}: {problem}; {fix}")
    except BaseException:
        _close(list(files.values()))
        raise
    return Snapshot(where, fmt, fix, verify, data, manifest, files)


def _read_at(name: str, dir_fd: int) -> bytes:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _is_dir(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _close(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
