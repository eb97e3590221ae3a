"""Opening an index: ids, tags and vectors mapped, old manifests and moved folders opened,
and encoders that do not match the ones that built it refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from toy_catalog import COLUMNS, TEXT_SPEC, catalog_rows, edit_manifest, write_catalog

from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.errors import (
    EncoderMismatchError,
)
from retrieval_tagger.index import store
from retrieval_tagger.index.reader import open_index
from retrieval_tagger.pipeline import Tagger


def test_opened_index_maps_ids_tags_and_vectors(both_index):
    opened = open_index(both_index)
    assert opened.ids[:2] == ["p00", "p01"]
    row = opened.id_rows["p07"]  # blue denim jeans, summer
    tags = {opened.vocab.tags[c] for c in opened.product_tags[row].indices}
    assert tags == {"denim", "summer", "colour:blue", "article:jeans"}
    assert opened.modalities["text"].index.ntotal == 30
    assert opened.modalities["image"].rows.tolist() == list(range(30))
    assert opened.vocab_vectors["text"].shape == (len(opened.vocab), 64)
    assert opened.vocab_vectors["image"].shape == (len(opened.vocab), 32)
    np.testing.assert_allclose(np.linalg.norm(opened.vocab_vectors["image"], axis=1), 1.0, rtol=1e-5)


def test_an_index_whose_manifest_predates_factory_strings_still_opens(both_index, tmp_path):
    """Stores recorded as type + knobs (rtag before factory strings) open and search the same."""
    copy = tmp_path / "old"
    shutil.copytree(both_index, copy)
    man = json.loads((copy / "manifest.json").read_text())
    for entry in man["stores"].values():
        for key in ("factory", "build", "search"):
            entry.pop(key, None)
    (copy / "manifest.json").write_text(json.dumps({k: v for k, v in man.items() if k != "seal"}))  # edited: unsealed
    old, new = open_index(copy), open_index(both_index)
    queries = np.eye(64, dtype=np.float32)[:5]
    for name in new.modalities:
        dim = new.modalities[name].index.d
        q = np.ascontiguousarray(queries[:, :dim])
        for got, expected in zip(store.search(old.modalities[name].index, q, 5), store.search(new.modalities[name].index, q, 5)):
            np.testing.assert_array_equal(got, expected)


def test_copy_of_an_index_opens_from_its_new_place(both_index, tmp_path):
    copy = tmp_path / "moved"
    shutil.copytree(both_index, copy)
    assert open_index(copy).ids == open_index(both_index).ids


def test_explicit_encoder_that_differs_from_the_index(text_index):
    with pytest.raises(EncoderMismatchError, match="built with text model 'hash:64', not 'hash:32'"):
        Tagger.load(text_index, text_model="hash:32")
    assert Tagger.load(text_index, text_model=TEXT_SPEC).text_encoder.spec == TEXT_SPEC


def test_tampered_encoder_checksum(text_index_copy):
    edit_manifest(text_index_copy, lambda m: m["encoders"]["text"].update(checksum="0" * 64))
    with pytest.raises(EncoderMismatchError, match="same name but different weights"):
        Tagger.load(text_index_copy)


def test_tampered_encoder_dimension(text_index_copy):
    edit_manifest(text_index_copy, lambda m: m["encoders"]["text"].update(dim=128))
    with pytest.raises(EncoderMismatchError, match="dimension 64 vs 128"):
        Tagger.load(text_index_copy)


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
