"""The served indexes: a changed folder is seen from its manifests and swapped whole; a
build that cannot load leaves the old one serving."""

from __future__ import annotations

import json
import os

import pytest

from retrieval_tagger.errors import IndexFormatError, IndexNotFoundError, RtagError
from retrieval_tagger.serve.indexes import IndexPool, folder_state, served_names


def make_index(folder, created="1"):
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"created": created}))
    return folder


def replace_folder(folder, created):
    """As a rebuild does: a new folder renamed over the old one."""
    new = make_index(folder.parent / f".{folder.name}.new", created)
    old = folder.parent / f".{folder.name}.old"
    os.rename(folder, old)
    os.rename(new, folder)


class Loader:
    def __init__(self):
        self.calls, self.fail = 0, False

    def __call__(self, folder):
        self.calls += 1
        if self.fail:
            raise IndexFormatError(f"{folder} is damaged")
        return {"created": json.loads((folder / "manifest.json").read_text())["created"], "n": self.calls}


def test_refresh_swaps_a_rebuilt_index_and_keeps_the_old_tagger_untouched(tmp_path):
    folder = make_index(tmp_path / "shop")
    loader = Loader()
    pool = IndexPool({"shop": folder}, loader)
    pool.load_all()
    first = pool.get("shop").tagger
    assert pool.refresh() == [] and loader.calls == 1  # nothing changed: nothing loaded
    replace_folder(folder, "2")
    assert pool.refresh() == ["shop"]
    assert pool.get("shop").tagger == {"created": "2", "n": 2} and first == {"created": "1", "n": 1}


def test_a_new_vocabulary_or_reranker_is_a_change(tmp_path):
    folder = make_index(tmp_path / "shop")
    before = folder_state(folder)
    (folder / "vocabs" / "colours").mkdir(parents=True)
    (folder / "vocabs" / "colours" / "manifest.json").write_text("{}")
    assert folder_state(folder) != before
    before = folder_state(folder)
    (folder / "reranker").mkdir()
    (folder / "reranker" / "manifest.json").write_text("{}")
    assert folder_state(folder) != before


def test_a_build_that_cannot_load_leaves_the_old_one_serving(tmp_path):
    folder = make_index(tmp_path / "shop")
    loader = Loader()
    pool = IndexPool({"shop": folder}, loader)
    pool.load_all()
    loader.fail = True
    replace_folder(folder, "2")
    assert pool.refresh() == []
    served = pool.get("shop")
    assert served.tagger["created"] == "1" and "damaged" in served.reload_error
    assert pool.refresh() == [] and loader.calls == 2  # not retried until the folder changes again


def test_unknown_names_are_refused_with_the_served_ones(tmp_path):
    pool = IndexPool({"shop": make_index(tmp_path / "shop")}, Loader())
    pool.load_all()
    with pytest.raises(IndexNotFoundError, match="served: shop"):
        pool.get("other")


def test_served_names_from_arguments_or_the_index_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RTAG_INDEX_DIR", str(tmp_path))
    make_index(tmp_path / "a")
    make_index(tmp_path / "b")
    (tmp_path / "not-an-index").mkdir()
    assert served_names([]) == {"a": tmp_path / "a", "b": tmp_path / "b"}
    assert served_names(["b"]) == {"b": tmp_path / "b"}
    with pytest.raises(IndexNotFoundError, match="no index at"):
        served_names(["missing"])
    make_index(tmp_path / "other" / "a")
    with pytest.raises(RtagError, match="two indexes would be served as 'a'"):
        served_names(["a", str(tmp_path / "other" / "a")])
    monkeypatch.setenv("RTAG_INDEX_DIR", str(tmp_path / "empty"))
    with pytest.raises(IndexNotFoundError, match="no index under"):
        served_names([])
