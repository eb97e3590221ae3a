"""Titles and photos of an index's products come from its own catalog, unchanged since
the build; otherwise none, with the reason."""

from __future__ import annotations

import json
import shutil

from retrieval_tagger.serve.catalog_view import CatalogView


def manifest_of(index):
    return json.loads((index / "manifest.json").read_text())


def test_titles_and_photos_by_id(both_index):
    view = CatalogView(manifest_of(both_index))
    assert "shirt" in view.title("p00") and view.image("p00").name == "p00.png"
    assert view.title("nope") is None and view.image("nope") is None and view.reason is None


def test_a_changed_or_missing_catalog_gives_nothing(both_index, tmp_path):
    manifest = manifest_of(both_index)
    copy = tmp_path / "catalog.csv"
    shutil.copy(manifest["catalog"]["path"], copy)
    copy.write_text(copy.read_text() + "\n")
    changed = CatalogView({**manifest, "catalog": {**manifest["catalog"], "path": str(copy)}})
    assert changed.title("p00") is None and "changed since the index was built" in changed.reason
    gone = CatalogView({**manifest, "catalog": {**manifest["catalog"], "path": str(tmp_path / "gone.csv")}})
    assert gone.image("p00") is None and "not on this machine" in gone.reason
