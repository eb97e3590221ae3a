"""``build_index``: what an index folder holds, bad images, index types, atomic replacement,
and image models aligned beforehand or by the build."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from shapes import ALIGN_BASE, ALIGN_OPTS, SHAPE_COLOURS, SHAPES
from toy_catalog import COLUMNS, TEXT_SPEC, catalog_rows, write_catalog

from retrieval_tagger import artifacts
from retrieval_tagger.align.train import AlignOptions
from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.errors import CatalogError, IndexExistsError, RtagError
from retrieval_tagger.index import manifest as manifest_mod
from retrieval_tagger.index import store
from retrieval_tagger.index.reader import open_index

SPEC = CatalogSpec(tags_col="tags", facet_cols=["colour", "article"])


def leftovers(folder):
    """Hidden temporary folders a build leaves beside its output."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_index_folder_holds_a_complete_manifest(both_index, catalog_csv):
    man = json.loads((both_index / "manifest.json").read_text(encoding="utf-8"))

    assert man["format"] == "rtag-index"
    assert man["format_version"] == manifest_mod.FORMAT_VERSION
    assert man["counts"] == {"products": 30, "with_text": 30, "with_image": 30, "tags": 5 + 6 + 6 + 2,
                             "tag_assignments": 30 * 4}
    assert man["encoders"]["text"]["spec"] == TEXT_SPEC and man["encoders"]["text"]["dim"] == 64
    assert man["encoders"]["image"] == {**man["encoders"]["image"], "spec": "rtag-tiny:random", "dim": 32, "image_size": 32}
    assert man["catalog"]["sha256"] == artifacts.sha256_file(catalog_csv)
    assert man["catalog"]["columns"]["facet_cols"] == ["colour", "article"]
    assert {s: v["type"] for s, v in man["stores"].items()} == {"text": "flat", "image": "flat", "colour": "flat"}
    assert man["vocab_spaces"] == ["image", "text"]
    # every file but the manifest is listed with its size and checksum
    on_disk = sorted(p.name for p in both_index.iterdir() if p.name != "manifest.json")
    assert sorted(man["files"]) == on_disk
    for name, info in man["files"].items():
        assert info["sha256"] == artifacts.sha256_file(both_index / name)
    assert man["report"]["summary"] == "30 rows read, 30 kept, 0 skipped"


def test_bare_name_goes_under_the_index_home(catalog_csv, index_home, encoders):
    build_index(catalog_csv, "shop", SPEC, encoders=encoders)
    assert (index_home / "shop" / "manifest.json").is_file()


def test_build_refuses_an_unknown_index_type_before_reading(tmp_path):
    with pytest.raises(RtagError, match="unknown index type"):
        build_index(tmp_path / "missing.csv", tmp_path / "idx", options=BuildOptions(index_type="kd-tree"))


def test_catalog_without_usable_products_is_refused(tmp_path, encoders):
    path = write_catalog(tmp_path / "c.csv", [{"id": "1", "title": ""}])
    with pytest.raises(CatalogError, match="no usable products"):
        build_index(path, tmp_path / "idx", encoders=encoders)
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("index_type", ["hnsw", "ivf"])
def test_approximate_index_types_build_and_are_recorded(catalog_csv, tmp_path, index_type):
    man = build_index(catalog_csv, tmp_path / "idx", SPEC, BuildOptions(text_model=TEXT_SPEC, image_model="none", index_type=index_type))
    recorded = man["stores"]["text"]
    assert recorded["type"] == index_type
    assert recorded["factory"] == {"hnsw": "HNSW32,Flat", "ivf": "IVF1,Flat"}[index_type]  # 30 vectors train one list
    assert recorded["search"] == store.TYPES[index_type].search
    assert man["build"]["index_type"] == index_type
    opened = open_index(tmp_path / "idx")
    assert store.search_parameters(opened.manifest["stores"]["text"]) == recorded["search"]


# -- bad images ------------------------------------------------------------------------


@pytest.fixture()
def broken_image_catalog(tmp_path):
    """Four products; p01's image is not an image, p02's image file does not exist and
    p03 has a broken image and no text."""
    rows = catalog_rows(tmp_path / "images")[:4]
    (tmp_path / "images" / "p01.png").write_bytes(b"this is not a PNG")
    (tmp_path / "images" / "p02.png").unlink()
    (tmp_path / "images" / "p03.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    rows[3].update(title="", description="")
    return write_catalog(tmp_path / "catalog.csv", rows, COLUMNS)


def test_broken_image_keeps_the_product_with_text_only(broken_image_catalog, tmp_path, encoders):
    # 3 of its 4 photos cannot be read: a build stops on that unless allowed
    with pytest.raises(CatalogError, match=r"3 of the 4 photos named cannot be read \(1 not found, 2 undecodable\), e\.g\. .*p0.*--allow-missing-images"):
        build_index(broken_image_catalog, tmp_path / "idx", SPEC, encoders=encoders)
    assert not (tmp_path / "idx").exists()
    man = build_index(broken_image_catalog, tmp_path / "idx", replace(SPEC, allow_missing_images=True), encoders=encoders)

    report = man["report"]
    assert report["rows_read"] == 4
    assert report["unreadable_images"] == 2
    assert report["missing_images"] == 1
    assert report["dropped_after_image_check"] == 1  # p03: nothing left to index
    assert report["kept"] == 3
    assert man["counts"] == {**man["counts"], "products": 3, "with_text": 3, "with_image": 1}
    assert any("p01" in example for example in report["examples"]["unreadable_images"])
    assert "1 no text and no usable image" in report["summary"]
    assert "2 image undecodable" in report["summary"]

    opened = open_index(tmp_path / "idx")
    assert opened.ids == ["p00", "p01", "p02"]
    assert opened.modalities["image"].rows.tolist() == [opened.id_rows["p00"]]


def test_broken_image_with_strict_is_an_error(tmp_path, encoders):
    rows = catalog_rows(tmp_path / "images")[:3]
    (tmp_path / "images" / "p01.png").write_bytes(b"not an image")
    path = write_catalog(tmp_path / "catalog.csv", rows, COLUMNS)
    with pytest.raises(CatalogError, match=r"1 images cannot be decoded.*p01\.png.*drop --strict"):
        build_index(path, tmp_path / "idx", CatalogSpec(strict=True), encoders=encoders)
    assert not (tmp_path / "idx").exists()


# -- atomic replacement ----------------------------------------------------------------


@pytest.fixture()
def old_index(tmp_path, encoders):
    """An index of the first 5 products at tmp_path/indexes/shop."""
    rows = catalog_rows(tmp_path / "images")
    small = write_catalog(tmp_path / "small.csv", rows[:5], COLUMNS)
    out = tmp_path / "indexes" / "shop"
    build_index(small, out, SPEC, encoders=encoders)
    full = write_catalog(tmp_path / "full.csv", rows, COLUMNS)
    return out, full


def test_existing_index_is_not_replaced_without_force(old_index, encoders):
    out, full = old_index
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(IndexExistsError, match="--force"):
        build_index(full, out, SPEC, encoders=encoders)
    assert (out / "manifest.json").read_bytes() == before


def test_existing_index_is_replaced_with_force(old_index, encoders):
    out, full = old_index
    man = build_index(full, out, SPEC, BuildOptions(force=True), encoders=encoders)
    assert man["counts"]["products"] == 30
    assert len(open_index(out).ids) == 30
    assert leftovers(out.parent) == []


def test_interrupted_build_leaves_the_old_index_and_no_temp_folders(old_index, encoders, monkeypatch):
    out, full = old_index
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_save = store.save
    calls = []

    def save_then_interrupt(index, path):
        calls.append(path.name)
        if len(calls) > 1:
            raise KeyboardInterrupt
        real_save(index, path)

    monkeypatch.setattr(store, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_index(full, out, SPEC, BuildOptions(force=True), encoders=encoders)

    assert calls == ["text.faiss", "image.faiss"]  # it did get half-way
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert len(open_index(out).ids) == 5
    assert leftovers(out.parent) == []


def test_failure_while_swapping_restores_the_old_index(old_index, encoders, monkeypatch):
    out, full = old_index
    real_replace = artifacts.os.replace
    calls = []

    def replace_failing_second(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # old -> aside worked; new -> into place fails
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(artifacts.os, "replace", replace_failing_second)
    with pytest.raises(OSError, match="disk full"):
        build_index(full, out, SPEC, BuildOptions(force=True), encoders=encoders)
    monkeypatch.undo()

    assert len(open_index(out).ids) == 5
    assert leftovers(out.parent) == []


def test_force_does_not_delete_a_folder_that_is_not_an_index(tmp_path, catalog_csv, encoders):
    """--force replaces an rtag index; a user's folder given by mistake must survive."""
    folder = tmp_path / "my_documents"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    with pytest.raises(RtagError):
        build_index(catalog_csv, folder, SPEC, BuildOptions(force=True), encoders=encoders)
    assert (folder / "thesis.txt").read_text() == "years of work"


# -- aligned image models --------------------------------------------------------------


@pytest.mark.slow  # an aligned model, and a build that aligns one
def test_index_uses_an_aligned_model_folder_and_index_align_keeps_its_own(aligned, tmp_path):
    from retrieval_tagger.build import BuildOptions, build_index
    from retrieval_tagger.pipeline import Tagger

    rows = [{"id": f"p{i}", "title": f"{c} {s}", "image": str(Path(aligned[1]["training"]["catalog"]).parent / "images" / f"{c}-{s}-{i % 4}.png"),
             "colour": c, "shape": s} for i, (c, s) in enumerate((c, s) for c in SHAPE_COLOURS for s in SHAPES for _ in range(4))]
    import csv

    catalog = tmp_path / "tagged.csv"
    with catalog.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    spec = CatalogSpec(facet_cols=["colour", "shape"])
    relative = Path(aligned[0]).relative_to(Path.cwd()) if Path(aligned[0]).is_relative_to(Path.cwd()) else aligned[0]
    man = build_index(catalog, tmp_path / "with_folder", spec, BuildOptions(text_model="hash:64", image_model=str(relative)))
    assert man["encoders"]["image"]["spec"] == str(Path(aligned[0]).resolve())
    Tagger.load(tmp_path / "with_folder", image_model=str(aligned[0]))

    man = build_index(catalog, tmp_path / "with_align", spec,
                      BuildOptions(text_model="hash:64", image_model=ALIGN_BASE, align=AlignOptions(**{**ALIGN_OPTS, "epochs": 2})))
    assert man["encoders"]["image"]["spec"] == "@index/image_model"
    assert (tmp_path / "with_align" / "image_model" / "manifest.json").is_file()
    assert not (tmp_path / ".with_align.aligned-model").exists()
    results = Tagger.load(tmp_path / "with_align").tag([{"id": "q", "title": "red circle", "image": rows[0]["image"]}])
    assert results[0].tags
