"""Where indexes live: bare names under the index home, paths as given, bad names refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval_tagger.errors import RtagError
from retrieval_tagger.index.location import index_home, resolve


def test_bare_names_go_under_the_index_home(index_home):
    assert resolve("shop") == index_home / "shop"
    assert resolve("shop-2024_v1.0") == index_home / "shop-2024_v1.0"


def test_the_index_home_is_indexes_unless_the_environment_names_another(monkeypatch, tmp_path):
    monkeypatch.delenv("RTAG_INDEX_DIR", raising=False)
    assert index_home() == Path("indexes") and resolve("shop") == Path("indexes") / "shop"
    monkeypatch.setenv("RTAG_INDEX_DIR", str(tmp_path))
    assert index_home() == tmp_path


@pytest.mark.parametrize("given", ["indexes/shop", "./shop", "/tmp/shop", ".", ".."])
def test_anything_with_a_slash_is_a_folder_path(index_home, given):
    assert resolve(given) == Path(given)


@pytest.mark.parametrize("name", ["-bad name", "-shop", "shop name", "shop!", "_shop"])
def test_invalid_names_are_refused_with_what_to_use(name):
    with pytest.raises(RtagError, match="invalid index name .*letters, digits"):
        resolve(name)
