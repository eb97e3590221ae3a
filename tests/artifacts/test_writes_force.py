"""artifacts/writes.py: replacing (``--force``) reaches only a folder whose manifest says it
is an artifact of the same kind; anything else survives with a message saying what is
there. Every writer goes through write_folder, so each command inherits the rule."""

from __future__ import annotations

import json

import pytest
from thing_folders import THING, contents, hidden, make_folder

from retrieval_tagger import artifacts
from retrieval_tagger.errors import NotReplaceableError


def user_folder(path, files):
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


@pytest.mark.parametrize("files, there", [
    ({"manifest.json": '{"name": "my web app", "icons": []}', "important.txt": "keep me"}, r"manifest.json is not an rtag manifest \(important.txt, manifest.json\)"),
    ({"important.txt": "keep me"}, r"a folder without an rtag manifest \(important.txt\)"),
    ({"manifest.json": json.dumps({"format": "rtag-vocab", "format_version": 1}), "important.txt": "x"}, r"an artifact of another kind \(rtag-vocab\)"),
])
def test_a_folder_that_is_not_the_same_kind_of_artifact_is_never_replaced(tmp_path, files, there):
    target = user_folder(tmp_path / "shop", files)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(NotReplaceableError, match=f"{target} exists and holds .*{there}, not an rtag-thing artifact: --force replaces only that; move it away"):
        make_folder(target, {"a.bin": b"new"})
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert hidden(tmp_path) == []


def test_a_file_in_the_way_is_not_replaced(tmp_path):
    target = tmp_path / "shop"
    target.write_text("notes")
    with pytest.raises(NotReplaceableError, match="holds a file, not a folder"):
        make_folder(target, {"a.bin": b"new"})
    assert target.read_text() == "notes"


def test_same_kind_empty_folders_and_work_areas_are_replaced(tmp_path):
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"old"})
    make_folder(target, {"a.bin": b"new"})
    assert contents(target) == {"a.bin": b"new"}
    empty = tmp_path / "empty"
    empty.mkdir()
    make_folder(empty, {"a.bin": b"new"})
    working = user_folder(tmp_path / "aligning" / ".rtag-align", {"checkpoint.json": "{}"}).parent  # rtag align's work area
    make_folder(working, {"a.bin": b"new"})
    assert contents(working) == {"a.bin": b"new"}


def test_a_damaged_manifest_of_the_same_kind_can_still_be_replaced(tmp_path):
    """The fix a damaged index's error gives is `--force`: it has to work."""
    target = tmp_path / "shop"
    make_folder(target, {"a.bin": b"old"})
    text = (target / "manifest.json").read_text()
    (target / "manifest.json").write_text(text[: len(text) // 2])  # cut: no longer JSON, still says its format
    make_folder(target, {"a.bin": b"new"})
    assert artifacts.read_manifest(target, THING)["files"]["a.bin"]["bytes"] == 3


def test_writers_check_before_their_work(tmp_path):
    target = user_folder(tmp_path / "docs", {"thesis.txt": "years of work"})
    with pytest.raises(NotReplaceableError, match="not an rtag index"):
        artifacts.check_replaceable(target, "rtag-index", "an rtag index")
    artifacts.check_replaceable(tmp_path / "absent", "rtag-index")


def test_index_force_refuses_a_web_app_folder_before_reading_the_catalog(tmp_path, index_home):
    """The tester's case: `rtag index --name DIR --force` on a folder with a manifest.json."""
    from retrieval_tagger.build import BuildOptions, build_index

    folder = user_folder(index_home / "site", {"manifest.json": '{"short_name": "app"}', "important.txt": "keep"})
    with pytest.raises(NotReplaceableError, match=r"site exists and holds a folder whose manifest.json is not an rtag manifest \(important.txt, manifest.json\), not an rtag index"):
        build_index(tmp_path / "no-such-catalog.csv", "site", options=BuildOptions(force=True))
    assert (folder / "important.txt").read_text() == "keep"
