"""Saved folders and files: the one way rtag writes, records and checks what it keeps.

Every saved folder carries ``manifest.json``: a header (format name and version, the rtag
that wrote it, when, and the library versions the writer names), the folder's own
sections, and ``files`` (size and sha256 of each file). Folders are built in a hidden
sibling ``.NAME.tmp-PID`` with the manifest written last, then renamed into place in one
step, so a reader finds the old folder, the new one, or none: never half of one. Files
are written to ``.NAME.tmp-PID`` beside them, flushed to disk and renamed. Leftovers of a
process that was killed mid-write are cleared by the next write to the same name.

Also here: the id-hash sampler, which picks samples and splits by a stable hash of
product ids so that they do not depend on row order.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from retrieval_tagger import __version__

MANIFEST = "manifest.json"
VERIFY_LEVELS = ("none", "size", "sha256")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Format:
    """A kind of saved folder: what its manifest says it is, and what a reader tells the
    user about a bad one (``error``, an RtagError subclass; ``fix``, the command that
    rebuilds it)."""

    name: str  # the manifest's "format", e.g. "rtag-index"
    version: int  # the "format_version" this rtag writes and reads
    what: str  # with its article, for messages: "an rtag index"
    error: type
    fix: str  # e.g. "rebuild it with `rtag index ... --force`"


def header(fmt: Format, versions: dict | None = None) -> dict:
    """The fields every manifest starts with; ``versions`` (library name -> version) is
    recorded when the writer passes it."""
    head = {
        "format": fmt.name,
        "format_version": fmt.version,
        "rtag_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if versions:
        head["versions"] = dict(versions)
    return head


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: Path) -> dict:
    """What a manifest records of one file: ``{"bytes", "sha256"}``."""
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def record_files(folder: Path, recursive: bool = False) -> dict:
    """Every file of ``folder`` (and of its subfolders when ``recursive``, named by their
    relative path) with its record, except the manifest and hidden work files."""
    paths = folder.rglob("*") if recursive else folder.iterdir()
    out = {}
    for path in sorted(paths):
        name = path.relative_to(folder)
        if path.is_file() and str(name) != MANIFEST and not any(part.startswith(".") for part in name.parts):
            out[name.as_posix()] = file_record(path)
    return out


@dataclass(frozen=True)
class FileProblem:
    """How one file differs from its manifest record."""

    name: str
    kind: str  # "missing", "size" or "sha256"
    expected: object = None
    found: object = None

    def __str__(self) -> str:
        if self.kind == "missing":
            return f"{self.name} is missing"
        if self.kind == "size":
            return f"{self.name} has {self.found} bytes, the manifest says {self.expected}"
        return f"{self.name} does not match its sha256 in the manifest"


def verify_files(folder: Path, files: dict, level: str = "sha256") -> FileProblem | None:
    """The first file of ``files`` (a manifest's records) that differs from what is in
    ``folder``, or None. ``level`` "none" checks that each file exists, "size" also its
    size (fast), "sha256" also its hash (reads every byte)."""
    if level not in VERIFY_LEVELS:
        raise ValueError(f"unknown verify level {level!r}: choose one of {', '.join(VERIFY_LEVELS)}")
    for name, info in files.items():
        path = folder / name
        if not path.is_file():
            return FileProblem(name, "missing")
        if level == "none":
            continue
        size = path.stat().st_size
        if size != info["bytes"]:
            return FileProblem(name, "size", info["bytes"], size)
        if level == "sha256":
            digest = sha256_file(path)
            if digest != info["sha256"]:
                return FileProblem(name, "sha256", info["sha256"], digest)
    return None


def read_manifest(folder: Path, fmt: Format, verify: str = "size", fix: str | None = None) -> dict:
    """Read ``folder``'s manifest and check its format, version and files (``verify``
    level, see verify_files). Raises ``fmt.error`` naming the folder and saying what to do
    (``fix``, default ``fmt.fix``)."""
    fix = fix or fmt.fix
    path = folder / MANIFEST
    if not path.is_file():
        raise fmt.error(f"{folder} is not {fmt.what} folder (no {MANIFEST}); {fix}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise fmt.error(f"{path} is corrupt ({exc}); {fix}") from exc
    if not isinstance(manifest, dict):
        raise fmt.error(f"{path} is corrupt (not a JSON object); {fix}")
    if manifest.get("format") != fmt.name:
        raise fmt.error(f"{path} is not {fmt.what} manifest (its format is {manifest.get('format')!r}, not {fmt.name!r}); {fix}")
    version = manifest.get("format_version")
    if version != fmt.version:
        raise fmt.error(f"{folder} holds {fmt.what} in format version {version}; this rtag {__version__} reads version {fmt.version}: {fix}")
    problem = verify_files(folder, manifest.get("files", {}), verify)
    if problem is not None:
        state = "incomplete" if problem.kind == "missing" else "corrupt or changed"
        raise fmt.error(f"{folder} is {state}: {problem}; {fix}")
    return manifest


def write_manifest(folder: Path, manifest: dict, recursive: bool = False) -> None:
    """List ``folder``'s files in ``manifest["files"]`` and write it: the last step inside
    a ``write_folder`` block (the folder is not yet visible, so no temporary name)."""
    manifest["files"] = record_files(folder, recursive)
    (folder / MANIFEST).write_text(_json_text(manifest), encoding="utf-8")


def _json_text(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; when the block ends
    without error it is flushed to disk and renamed over ``path``, else removed."""
    path = Path(path)
    _clear_stale(path)
    tmp = _temp_of(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
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
    ``"replace"`` it (renamed aside, the new one renamed in, the old one removed; should
    the second rename fail the old one is put back), ``"keep"`` it (another writer
    finished first: the new one is dropped), or an exception instance to raise. On any
    error the temporary folder is removed and ``target`` is left as it was.
    """
    if not (existing in ("replace", "keep") or isinstance(existing, BaseException)):
        raise ValueError(f"existing must be 'replace', 'keep' or an exception, not {existing!r}")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale(target)
    tmp = _temp_of(target)
    _remove(tmp)
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
        _remove(tmp)
    _fsync(target.parent)


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
    old = _aside_of(target)
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)


def _temp_of(path: Path, pid: int | None = None) -> Path:
    return path.with_name(f".{path.name}.tmp-{pid or os.getpid()}")


def _aside_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.old-{os.getpid()}")


def _clear_stale(target: Path) -> None:
    """Remove what a killed writer of ``target`` left beside it (``.NAME.tmp-PID``; and
    ``.NAME.old-PID``, put back when it was killed between its two renames)."""
    prefix = f".{target.name}."
    if not target.parent.is_dir():
        return
    for path in target.parent.iterdir():
        if not path.name.startswith(prefix):
            continue
        kind, _, pid = path.name[len(prefix):].partition("-")
        if kind not in ("tmp", "old") or not pid.isdigit() or _running(int(pid)):
            continue
        if kind == "old" and not target.exists():
            os.replace(path, target)
        else:
            _remove(path)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def _remove(path: Path) -> None:
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


def _sha1(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


def hash_sample(ids: Sequence[str], size: int | None = None) -> np.ndarray:
    """Positions in ``ids`` of the ``size`` ids (all when None) whose sha1 comes first, in
    increasing position order: a sample that follows the ids, not their order. Ties (equal
    8-byte prefixes) go to the earlier position."""
    keys = np.fromiter((int.from_bytes(_sha1(i)[:8], "big") for i in ids), dtype=np.uint64, count=len(ids))
    return np.sort(np.argsort(keys, kind="stable")[:size])


def hash_bucket(item_id: str, buckets: int, salt: str = "") -> int:
    """The bucket in ``[0, buckets)`` of an id, from the first 4 bytes of the sha1 of
    ``salt + id``: a split that follows the id and stays put as the catalog grows."""
    return int.from_bytes(_sha1(salt + item_id)[:4], "big") % buckets
