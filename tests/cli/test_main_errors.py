"""Every failure is one line on stderr with what to do, and a traceback only with --debug:
RtagErrors exit 2, operating-system errors say what to free or fix, anything else names
its type and points at --debug (exit 1)."""

from __future__ import annotations

import errno
import logging
import shutil
import sys

import pytest
from PIL import Image
from toy_catalog import COLUMNS, IMAGE_SPEC, TEXT_SPEC, catalog_rows, write_catalog

from retrieval_tagger.cli.main import main
from retrieval_tagger.index import manifest


def run_main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["rtag", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        main()
    return info.value.code, capsys.readouterr()


def one_line(out) -> str:
    lines = out.err.splitlines()
    assert len(lines) == 1, out.err
    assert "Traceback" not in out.err
    return lines[0]


@pytest.fixture()
def broken_manifest(text_index, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(text_index, folder)
    (folder / "manifest.json").write_text('{"format": "rtag-index", ', encoding="utf-8")
    return folder


def test_corrupt_manifest_json_is_one_line(monkeypatch, capsys, broken_manifest):
    code, out = run_main(monkeypatch, capsys, "tag", "--index", broken_manifest, "--text", "red shirt")
    assert code == 2
    line = one_line(out)
    assert line.startswith(f"rtag: error: {broken_manifest / 'manifest.json'} is corrupt (")
    assert "rebuild it with `rtag index" in line


def test_debug_adds_the_traceback_above_the_line(monkeypatch, capsys, broken_manifest):
    code, out = run_main(monkeypatch, capsys, "--debug", "tag", "--index", broken_manifest, "--text", "red shirt")
    assert code == 2
    assert out.err.startswith("Traceback (most recent call last):")
    assert "IndexFormatError: " in out.err
    assert out.err.splitlines()[-1].startswith(f"rtag: error: {broken_manifest / 'manifest.json'} is corrupt (")


def test_unreadable_input_is_one_line(monkeypatch, capsys, text_index, tmp_path):
    folder = tmp_path / "products.csv"
    folder.mkdir()
    code, out = run_main(monkeypatch, capsys, "tag", "--index", text_index, folder)
    assert code == 2
    assert one_line(out) == f"rtag: error: input file {folder} is a folder: give a file"


def test_missing_image_alone_is_an_error_naming_it(monkeypatch, capsys, text_index, tmp_path):
    missing = tmp_path / "missing.jpg"
    code, out = run_main(monkeypatch, capsys, "tag", "--index", text_index, "--image", missing)
    assert code == 2
    assert one_line(out) == f"rtag: error: image not found: {missing}: check the path"
    assert out.out == ""


def test_an_image_that_is_no_image_alone_is_an_error(monkeypatch, capsys, text_index, tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("not a photo", encoding="utf-8")
    code, out = run_main(monkeypatch, capsys, "tag", "--index", text_index, "--image", fake)
    assert code == 2
    assert one_line(out).startswith(f"rtag: error: image {fake} cannot be read as an image (")


def test_a_missing_image_with_text_still_tags_from_the_text(monkeypatch, capsys, both_index, tmp_path):
    missing = tmp_path / "missing.jpg"
    code, out = run_main(monkeypatch, capsys, "tag", "--index", both_index, "--text", "red cotton shirt", "--image", missing)
    assert code == 0
    assert '"tags"' in out.out and "missing.jpg" in out.out  # tagged, with a warning about the image


def test_a_full_disk_says_what_to_do(monkeypatch, capsys, text_index):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.jsonl")

    monkeypatch.setattr(manifest, "read_manifest", full)
    code, out = run_main(monkeypatch, capsys, "info", text_index)
    assert code == 1
    assert one_line(out) == "rtag: error: no space left on device (/data/out.jsonl): free some disk space and run again"


def test_an_unexpected_failure_names_its_type_and_points_at_debug(monkeypatch, capsys, text_index):
    def boom(*args, **kwargs):
        raise ValueError("first line\n  second line")

    monkeypatch.setattr(manifest, "read_manifest", boom)
    code, out = run_main(monkeypatch, capsys, "info", text_index)
    assert code == 1
    assert one_line(out) == "rtag: error: ValueError: first line second line (run with --debug for the traceback)"

    code, out = run_main(monkeypatch, capsys, "--debug", "info", text_index)
    assert code == 1
    assert "Traceback (most recent call last):" in out.err and 'raise ValueError("first line' in out.err
    assert out.err.splitlines()[-1] == "rtag: error: ValueError: first line second line (run with --debug for the traceback)"


def test_a_huge_photo_in_a_catalog_is_a_warning_not_an_abort(monkeypatch, capsys, caplog, tmp_path):
    # over the pixel limit (set low here): the product is kept with its text, the photo named once
    rows = catalog_rows(tmp_path / "images")[:6]
    Image.new("RGB", (300, 200), (10, 200, 10)).save(tmp_path / "images" / "big.png")
    rows[0]["image"] = str(tmp_path / "images" / "big.png")
    path = write_catalog(tmp_path / "c.csv", rows, COLUMNS)
    monkeypatch.setenv("RTAG_MAX_IMAGE_PIXELS", "50000")
    with caplog.at_level(logging.WARNING, logger="rtag"):
        code, out = run_main(monkeypatch, capsys, "index", path, "--name", tmp_path / "idx", "--facet-cols", "colour,article",
                             "--text-model", TEXT_SPEC, "--image-model", IMAGE_SPEC)
    assert code == 0
    assert [r.getMessage() for r in caplog.records if "RTAG_MAX_IMAGE_PIXELS" in r.getMessage()] == [
        f"image {tmp_path / 'images' / 'big.png'} is 300x200 pixels, over the limit of 50,000 "
        "(RTAG_MAX_IMAGE_PIXELS): not decoded; shrink the photo or raise the limit"
    ]
    assert "6 kept" in out.err and "1 image undecodable" in out.err


def test_vocab_list_on_a_missing_index_exits_2(monkeypatch, capsys, tmp_path):
    code, out = run_main(monkeypatch, capsys, "vocab", "list", "--index", tmp_path / "missing")
    assert code == 2
    assert one_line(out).startswith(f"rtag: error: no index at {tmp_path / 'missing'}: build one with `rtag index")
