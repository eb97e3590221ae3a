"""Reading an index's manifest: unknown names, broken folders, other formats and versions,
and files that are missing, truncated or changed."""

from __future__ import annotations

import pytest
from toy_catalog import edit_manifest

from retrieval_tagger.errors import (
    IndexFormatError,
    IndexNotFoundError,
)
from retrieval_tagger.index.manifest import read_manifest
from retrieval_tagger.pipeline import Tagger


def test_unknown_index_name(index_home):
    with pytest.raises(IndexNotFoundError, match=r"no index at .*nope.*rtag index CATALOG --name nope"):
        Tagger.load("nope")


def test_unknown_index_folder(tmp_path):
    with pytest.raises(IndexNotFoundError, match="no index at"):
        Tagger.load(tmp_path / "missing")


def test_folder_without_manifest_is_not_an_index(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexFormatError, match="not an rtag index"):
        Tagger.load(tmp_path / "empty")


def test_corrupt_manifest(text_index_copy):
    (text_index_copy / "manifest.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="corrupt"):
        Tagger.load(text_index_copy)


def test_other_format_version_is_refused(text_index_copy):
    edit_manifest(text_index_copy, lambda m: m.update(format_version=99))
    with pytest.raises(IndexFormatError, match="format version 99.*reads version 1.*rebuild"):
        Tagger.load(text_index_copy)


def test_manifest_of_something_else_is_refused(text_index_copy):
    edit_manifest(text_index_copy, lambda m: m.update(format="other-tool"))
    with pytest.raises(IndexFormatError, match="not an rtag index manifest"):
        read_manifest(text_index_copy)


def test_missing_file_is_reported(text_index_copy):
    (text_index_copy / "text.faiss").unlink()
    with pytest.raises(IndexFormatError, match="incomplete: text.faiss is missing"):
        Tagger.load(text_index_copy)


def test_truncated_file_is_caught_by_its_size(text_index_copy):
    data = (text_index_copy / "ids.json").read_bytes()
    (text_index_copy / "ids.json").write_bytes(data[:-5])
    with pytest.raises(IndexFormatError, match="ids.json has .* bytes, the manifest says"):
        Tagger.load(text_index_copy)


def test_same_size_corruption_is_caught_by_sha256_only(text_index_copy):
    path = text_index_copy / "ids.json"
    path.write_text(path.read_text(encoding="utf-8").replace("p00", "p99"), encoding="utf-8")
    read_manifest(text_index_copy, verify="size")  # fast check: sizes still agree
    with pytest.raises(IndexFormatError, match="ids.json does not match its sha256"):
        read_manifest(text_index_copy, verify="sha256")
