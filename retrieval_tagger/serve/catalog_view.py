"""The titles and photos of an index's own products, by product id, for the page's "why"
panel and its thumbnails.

An index stores vectors and tags, not titles or photos: they are read from the catalog
file its manifest names, once, and only when that file is unchanged (same sha256). A
photo is served only for a product id of the index, from the path the catalog gives it:
never from a path a client sends.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from retrieval_tagger.artifacts.records import sha256_file
from retrieval_tagger.errors import RtagError

log = logging.getLogger(__name__)


class CatalogView:
    """Products of one index build: ``title(id)`` and ``image(id)``, or None when the
    catalog file is gone or changed since the build (``reason`` says which)."""

    def __init__(self, manifest: dict):
        self.manifest = manifest
        self.reason: str | None = None
        self._rows: dict[str, tuple[str, str | None]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict:
        with self._lock:
            if self._rows is None:
                self._rows = self._read()
            return self._rows

    def _read(self) -> dict:
        from retrieval_tagger.catalog import read_catalog, spec_from_manifest

        catalog = self.manifest.get("catalog", {})
        path = Path(catalog.get("path", ""))
        if not path.is_file():
            self.reason = f"the catalog {path} is not on this machine"
            return {}
        if sha256_file(path) != catalog.get("sha256"):
            self.reason = f"the catalog {path} changed since the index was built"
            return {}
        try:
            products, _ = read_catalog(path, spec_from_manifest(catalog.get("columns", {})))
        except RtagError as exc:
            self.reason = f"the catalog {path} cannot be read: {exc}"
            return {}
        return {p.id: (p.text, p.image) for p in products}

    def title(self, product_id: str) -> str | None:
        row = self._load().get(product_id)
        return row[0] if row else None

    def image(self, product_id: str) -> Path | None:
        row = self._load().get(product_id)
        return Path(row[1]) if row and row[1] else None
