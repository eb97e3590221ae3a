"""Opening an index: unknown names, broken folders, and encoders that do not match."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import COLUMNS, TEXT_SPEC, catalog_rows, write_catalog

from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.errors import (
    EncoderError,
    EncoderMismatchError,
    IndexFormatError,
    IndexNotFoundError,
)
from retrieval_tagger.index.manifest import read_manifest
from retrieval_tagger.pipeline import Tagger


@pytest.fixture()
def index_copy(text_index, tmp_path):
    """A private copy of the text-only index that a test may damage."""
    copy = tmp_path / "copy"
    shutil.copytree(text_index, copy)
    return copy


def edit_manifest(folder, change):
    path = folder / "manifest.json"
    man = json.loads(path.read_text(encoding="utf-8"))
    change(man)
    path.write_text(json.dumps(man), encoding="utf-8")


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


def test_corrupt_manifest(index_copy):
    (index_copy / "manifest.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="corrupt"):
        Tagger.load(index_copy)


def test_other_format_version_is_refused(index_copy):
    edit_manifest(index_copy, lambda m: m.update(format_version=99))
    with pytest.raises(IndexFormatError, match="format version 99.*reads version 1.*rebuild"):
        Tagger.load(index_copy)


def test_manifest_of_something_else_is_refused(index_copy):
    edit_manifest(index_copy, lambda m: m.update(format="other-tool"))
    with pytest.raises(IndexFormatError, match="not an rtag index manifest"):
        read_manifest(index_copy)


def test_missing_file_is_reported(index_copy):
    (index_copy / "text.faiss").unlink()
    with pytest.raises(IndexFormatError, match="incomplete: text.faiss is missing"):
        Tagger.load(index_copy)


def test_truncated_file_is_caught_by_its_size(index_copy):
    data = (index_copy / "ids.json").read_bytes()
    (index_copy / "ids.json").write_bytes(data[:-5])
    with pytest.raises(IndexFormatError, match="ids.json has .* bytes, the manifest says"):
        Tagger.load(index_copy)


def test_same_size_corruption_is_caught_by_sha256_only(index_copy):
    path = index_copy / "ids.json"
    path.write_text(path.read_text(encoding="utf-8").replace("p00", "p99"), encoding="utf-8")
    read_manifest(index_copy, verify="size")  # fast check: sizes still agree
    with pytest.raises(IndexFormatError, match="ids.json does not match its sha256"):
        read_manifest(index_copy, verify="sha256")


def test_explicit_encoder_that_differs_from_the_index(text_index):
    with pytest.raises(EncoderMismatchError, match="built with text model 'hash:64', not 'hash:32'"):
        Tagger.load(text_index, text_model="hash:32")
    assert Tagger.load(text_index, text_model=TEXT_SPEC).text_encoder.spec == TEXT_SPEC


def test_tampered_encoder_checksum(index_copy):
    edit_manifest(index_copy, lambda m: m["encoders"]["text"].update(checksum="0" * 64))
    with pytest.raises(EncoderMismatchError, match="same name but different weights"):
        Tagger.load(index_copy)


def test_tampered_encoder_dimension(index_copy):
    edit_manifest(index_copy, lambda m: m["encoders"]["text"].update(dim=128))
    with pytest.raises(EncoderMismatchError, match="dimension 64 vs 128"):
        Tagger.load(index_copy)


def test_unknown_encoder_specs():
    from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder

    with pytest.raises(EncoderError, match="hash:DIM with an integer DIM"):
        load_text_encoder("hash:big")
    with pytest.raises(EncoderError, match="at least 8"):
        load_text_encoder("hash:4")
    with pytest.raises(EncoderError, match="unknown image model 'no-such-arch:x'"):
        load_image_encoder("no-such-arch:x")
    with pytest.raises(EncoderError, match="unknown image spec 'rtag-tiny': write one of these forms: none .*ARCH:TAG"):
        load_image_encoder("rtag-tiny")
    with pytest.raises(EncoderError, match="names no weights"):
        load_image_encoder("rtag-tiny:")
    with pytest.raises(EncoderError, match="checkpoint file not found"):
        load_image_encoder("rtag-tiny:/no/such/ckpt.pt")
    with pytest.raises(EncoderError, match="between 32 and 1024"):
        load_image_encoder("rtag-lite@8")
    assert load_image_encoder("none") is None


def test_changed_checkpoint_weights_are_caught_by_checksum(tmp_path):
    """Same spec string, different weights on disk: the manifest checksum must notice."""
    import open_clip

    from retrieval_tagger.encoders.clip_models import register_configs

    register_configs()
    ckpt = tmp_path / "tiny.pt"
    torch.manual_seed(1)
    torch.save(open_clip.create_model("rtag-tiny").state_dict(), ckpt)
    rows = catalog_rows(tmp_path / "images")[:6]
    path = write_catalog(tmp_path / "catalog.csv", rows, COLUMNS)
    spec = f"rtag-tiny:{ckpt}"
    build_index(path, tmp_path / "idx", CatalogSpec(facet_cols=["colour"]), BuildOptions(text_model=TEXT_SPEC, image_model=spec))

    tagger = Tagger.load(tmp_path / "idx")  # the same checkpoint loads and tags
    assert tagger.image_encoder.spec == spec
    (result,) = tagger.tag([{"id": "q", "image": str(tmp_path / "images" / "p00.png")}], k=1)
    assert result.tags[0] == {"tag": "colour:red", "score": 1.0}

    torch.manual_seed(2)
    torch.save(open_clip.create_model("rtag-tiny").state_dict(), ckpt)
    # the model itself is loaded (torch, or no cached ONNX export of the index's weights): refused
    with pytest.raises(EncoderMismatchError, match="image encoder .* different weights"):
        Tagger.load(tmp_path / "idx", image_backend="torch")
    # the cached ONNX export of the weights that built the index: the index's own model still tags
    (again,) = Tagger.load(tmp_path / "idx").tag([{"id": "q", "image": str(tmp_path / "images" / "p00.png")}], k=1)
    assert again.tags == result.tags
