"""Helpers of the artifacts tests: a toy saved-folder format ("a thing") and what to look
at in a folder after a write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from retrieval_tagger import artifacts
from retrieval_tagger.errors import RtagError


class ThingError(RtagError):
    pass


THING = artifacts.Format("rtag-thing", 3, "a thing", ThingError, "make it again with `rtag thing --force`")


def make_folder(target: Path, files: dict[str, bytes], **write_args) -> dict:
    with artifacts.write_folder(target, **write_args) as tmp:
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        manifest = {**artifacts.header(THING), "note": "x"}
        artifacts.write_manifest(tmp, manifest, recursive=True)
    return manifest


def contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))  # a killed writer leaves its (released) lock


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def edit(folder: Path, **changes) -> None:
    path = folder / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))

