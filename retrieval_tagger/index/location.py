"""Where indexes live: a bare name means ``<RTAG_INDEX_DIR>/<name>`` (``./indexes/<name>``
by default); anything with a slash is a folder path, taken as written (relative to the
current folder, not to ``RTAG_INDEX_DIR``), as paths are everywhere else on a command line."""

from __future__ import annotations

import os
import re
from pathlib import Path

from retrieval_tagger.errors import RtagError

# an aligned model trained by `rtag index --align` lives in the index folder under this name,
# and the index names it as its image encoder by this spec
INDEX_MODEL_DIR = "image_model"
INDEX_MODEL_SPEC = f"@index/{INDEX_MODEL_DIR}"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def index_home() -> Path:
    return Path(os.environ.get("RTAG_INDEX_DIR", "indexes"))


def resolve(name_or_path: str | Path) -> Path:
    """A bare name means ``<index home>/<name>``; anything with a slash (or ``.``, ``..``)
    is a folder path, used as written."""
    text = str(name_or_path)
    if os.sep in text or "/" in text or text in (".", ".."):
        return Path(text)
    if not _NAME_RE.match(text):
        raise RtagError(f"invalid index name {text!r}: use letters, digits, '.', '_' and '-', or give a folder path")
    return index_home() / text
