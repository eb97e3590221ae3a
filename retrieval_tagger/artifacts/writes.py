"""Atomic writes of folders and files, one writer at a time.

A folder is built in a hidden sibling ``.NAME.tmp-PID`` with the manifest written last,
then renamed into place; an existing folder is renamed aside first (``.NAME.old-PID``)
and removed only once the new one is in place, so a reader finds the old folder, the new
one, or (for the instant between the renames, or after a crash there) the old one aside,
which readers open instead (snapshot.py). Files are written to ``.NAME.tmp-PID`` beside
them, flushed and renamed.

Writers of a name hold an exclusive lock on ``.NAME.lock`` beside it (fcntl.flock; the
lock file is removed on release): a second writer stops at once with the holder's PID.
Writers into a folder (a vocabulary or reranker inside an index) hold a shared lock on
the folder's name, so that it is not rebuilt under them. What a killed writer left
beside the name (``.NAME.tmp-PID``, ``.NAME.old-PID`` of a process that no longer runs)
is cleared by the next writer of the name; an old folder set aside is put back.

A folder is replaced only when its manifest says it is an artifact of the same format:
``--force`` never deletes anything else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from retrieval_tagger.artifacts.records import MANIFEST
from retrieval_tagger.errors import ArtifactLockedError, NotReplaceableError

try:
    import fcntl
except ImportError:  # Windows has no fcntl: writers there are not locked against each other
    fcntl = None

WORK_PREFIX = ".rtag-"  # work areas a writer keeps inside its own output (e.g. .rtag-align)
_held: dict[str, list] = {}  # lock file -> [fd, shared, depth], for nested locks of one process


def lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


@contextmanager
def writer_lock(target: str | Path, shared: bool = False) -> Iterator[None]:
    """Hold the writers' lock of ``target`` for the block: exclusive (one writer of
    ``target``), or ``shared`` (writers inside the folder ``target``, which must not be
    replaced meanwhile). Raises ArtifactLockedError naming the holder's PID when another
    process holds it; nested calls in one process share the lock."""
    target = Path(target)
    path = lock_path(target)
    key = str(path.resolve())
    if fcntl is None:
        yield
        return
    if key in _held:  # nested: this process holds it already
        held = _held[key]
        if held[1] and not shared:
            raise ArtifactLockedError(f"{target} is being written into by this process; it cannot be replaced meanwhile")
        held[2] += 1
        try:
            yield
        finally:
            held[2] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, target, shared)
    _held[key] = [fd, shared, 1]
    try:
        yield
    finally:
        depth = _held[key][2] - 1
        if depth == 0:
            del _held[key]
            _release(path, fd)
        else:
            _held[key][2] = depth


def _acquire(path: Path, target: Path, shared: bool) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _locked_error(fd, path, target, shared) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else a releasing holder removed the file between our open and lock
            # holders write their PIDs, one a line, for the message a blocked writer gets
            line = f"{os.getpid()}\n".encode("ascii")
            if shared:
                os.lseek(fd, 0, os.SEEK_END)
                os.write(fd, line)
            else:
                os.ftruncate(fd, 0)
                os.pwrite(fd, line, 0)
            return fd
        os.close(fd)


def _locked_error(fd: int, path: Path, target: Path, shared: bool) -> ArtifactLockedError:
    """The one line for a writer that found the lock of ``target`` held, naming the
    holders that still run."""
    try:
        text = os.pread(fd, 4096, 0).decode("ascii", "replace")
        pids = sorted({int(p) for p in text.split() if p.isdigit() and int(p) != os.getpid() and _running(int(p))})
        holders_share = not shared and _can_share(fd)
    finally:
        os.close(fd)
    who = f"PID {', '.join(map(str, pids))}" if pids else "PID unknown"
    doing = "replacing" if shared else "writing into" if holders_share else "writing"
    return ArtifactLockedError(f"another rtag process ({who}) is {doing} {target}: wait for it to finish, or stop it "
                               f"(its lock is {path}, released when it ends)")


def _can_share(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def _release(path: Path, fd: int) -> None:
    try:  # remove the lock file only when no other process holds it (shared holders)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink(missing_ok=True)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)


def replace_problem(target: Path, format_name: str) -> str | None:
    """Why ``target`` may not be replaced by an artifact of format ``format_name`` (what
    is there), or None: it may be when it is absent, an empty folder or one holding only
    rtag work areas, or a folder whose manifest names that format (even a damaged one)."""
    if not target.exists() and not target.is_symlink():
        return None
    if target.is_symlink() or not target.is_dir():
        return "a file, not a folder"
    entries = sorted(p.name for p in target.iterdir())
    listing = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    if all(name.startswith(WORK_PREFIX) for name in entries):
        return None
    manifest = target / MANIFEST
    if not manifest.is_file():
        return f"a folder without an rtag manifest ({listing})"
    text = manifest.read_bytes()[:1 << 20].decode("utf-8", "replace")
    try:
        found = json.loads(text).get("format")
    except (ValueError, AttributeError):
        # a damaged manifest of the same kind is still replaced, so its fix (--force) works
        match = re.search(r'"format"\s*:\s*"([^"]*)"', text)
        found = match.group(1) if match else None
    if found == format_name:
        return None
    if isinstance(found, str) and found.startswith("rtag-"):
        return f"an artifact of another kind ({found})"
    return f"a folder whose {MANIFEST} is not an rtag manifest ({listing})"


def check_replaceable(target: str | Path, format_name: str, what: str | None = None) -> None:
    """Raise NotReplaceableError unless ``target`` may be replaced by an artifact of format
    ``format_name`` (``what``, with its article, names it in the message)."""
    target = Path(target)
    problem = replace_problem(target, format_name)
    if problem is not None:
        raise NotReplaceableError(
            f"{target} exists and holds {problem}, not {what or 'an ' + format_name + ' artifact'}: "
            f"--force replaces only that; move it away yourself, or write to another name"
        )


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; when the block ends
    without error it is flushed to disk and renamed over ``path``, else removed. Holds
    the writers' lock of ``path``."""
    path = Path(path)
    with writer_lock(path):
        _clear_stale(path)
        tmp = temp_of(path)
        try:
            yield tmp
            _fsync(tmp)
            os.replace(tmp, path)
        except BaseException:
            remove(tmp)
            raise
        _fsync(path.parent)


def write_json(path: str | Path, data, indent: int = 2) -> None:
    """Write ``data`` as UTF-8 JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


@contextmanager
def write_folder(target: str | Path, existing="replace") -> Iterator[Path]:
    """Build the folder ``target`` atomically: the block fills the temporary folder it is
    given and ends with ``write_manifest``; then the folder is renamed into place.

    ``existing`` says what happens when ``target`` exists once the new folder is complete:
    ``"replace"`` it (only when its manifest names the new folder's format, see
    check_replaceable; renamed aside, the new one renamed in, the old one removed; should
    the second rename fail the old one is put back), ``"keep"`` it (another writer
    finished first: the new one is dropped), or an exception instance to raise. On any
    error the temporary folder is removed and ``target`` is left as it was.

    Except with ``"keep"`` (caches, which any process may fill), the block runs under
    the writers' lock of ``target`` (writer_lock).
    """
    if not (existing in ("replace", "keep") or isinstance(existing, BaseException)):
        raise ValueError(f"existing must be 'replace', 'keep' or an exception, not {existing!r}")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    locked = existing != "keep"
    with writer_lock(target) if locked else _unlocked():
        _clear_stale(target)
        tmp = temp_of(target)
        remove(tmp)
        tmp.mkdir()
        try:
            yield tmp
            if not (tmp / MANIFEST).is_file():
                raise RuntimeError(f"{tmp} has no {MANIFEST}: a write_folder block must end with write_manifest")
            for path in sorted(tmp.rglob("*")):
                if path.is_file():
                    _fsync(path)
            _put_in_place(tmp, target, existing)
        finally:
            remove(tmp)
        _fsync(target.parent)


@contextmanager
def _unlocked() -> Iterator[None]:
    yield


def remove_folder(target: str | Path) -> bool:
    """Remove the folder ``target`` in one step for readers (renamed aside, then deleted),
    under its writers' lock, clearing what killed writers left beside it; False when there
    was no such folder."""
    target = Path(target)
    with writer_lock(target):
        _clear_stale(target)
        if not target.is_dir():
            return False
        aside = temp_of(target)  # a temporary name: never put back, cleared if we are killed
        os.replace(target, aside)
        _fsync(target.parent)
        remove(aside)
    return True


def _put_in_place(tmp: Path, target: Path, existing) -> None:
    if not target.exists():
        try:
            os.replace(tmp, target)
            return
        except OSError:
            if not target.exists():
                raise  # anything but another writer getting there first
    if existing == "keep":
        return
    if isinstance(existing, BaseException):
        raise existing
    fmt = json.loads((tmp / MANIFEST).read_text(encoding="utf-8")).get("format", "")
    check_replaceable(target, fmt)
    old = aside_of(target)
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    remove(old)


def temp_of(path: Path, pid: int | None = None) -> Path:
    return path.with_name(f".{path.name}.tmp-{pid or os.getpid()}")


def aside_of(path: Path, pid: int | None = None) -> Path:
    return path.with_name(f".{path.name}.old-{pid or os.getpid()}")


def leftovers(target: Path) -> list[tuple[str, int, Path]]:
    """What writers of ``target`` left beside it: ``(kind, pid, path)`` with kind "tmp"
    (a folder or file being written) or "old" (the previous folder, set aside)."""
    prefix = f".{target.name}."
    if not target.parent.is_dir():
        return []
    out = []
    for path in target.parent.iterdir():
        if path.name.startswith(prefix):
            kind, _, pid = path.name[len(prefix):].partition("-")
            if kind in ("tmp", "old") and pid.isdigit():
                out.append((kind, int(pid), path))
    return sorted(out, key=lambda item: item[2].name)


def _clear_stale(target: Path) -> None:
    """Remove what killed writers of ``target`` left beside it (their PIDs no longer run),
    putting an old folder set aside back when ``target`` is missing."""
    for kind, pid, path in leftovers(target):
        if pid == os.getpid() or _running(pid):
            continue
        if kind == "old" and not target.exists():
            os.replace(path, target)
        else:
            remove(path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk; a best effort where the OS cannot."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

