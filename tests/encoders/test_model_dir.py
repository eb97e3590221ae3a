"""The aligned-model folder: saved and loaded back as the model it holds, never written over
a finished model or a user's files, and refused with a clear error when damaged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from shapes import ALIGN_BASE

from retrieval_tagger import artifacts
from retrieval_tagger.encoders import colour
from retrieval_tagger.encoders.model_dir import (
    COLOUR,
    CONFIG,
    WEIGHTS,
    check_writable,
    load_model_dir,
    read_model_manifest,
    save_model_dir,
)
from retrieval_tagger.encoders.registry import build_clip_model, load_image_encoder
from retrieval_tagger.errors import AlignError, ModelFolderError


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> tuple[Path, object, torch.Tensor]:
    """A model folder saved straight from rtag-tiny:random with a colour head, no training."""
    built = build_clip_model(ALIGN_BASE)
    colour_head = torch.randn(32, colour.DIM, generator=torch.Generator().manual_seed(0))
    out = tmp_path_factory.mktemp("model_dir") / "model"
    save_model_dir(out, built, built.model, colour_head, ALIGN_BASE, {"note": "saved by hand"})
    return out, built, colour_head


def copy_model(model_folder, tmp_path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(model_folder[0], out)
    return out


def test_a_saved_folder_loads_back_as_the_model_it_holds(model_folder):
    out, built, colour_head = model_folder
    manifest = read_model_manifest(out)
    assert manifest["base"] == {"spec": ALIGN_BASE, "checksum": built.checksum} and manifest["training"] == {"note": "saved by hand"}
    assert manifest["tokenizer"] == {"kind": "open_clip", "name": "rtag-tiny"} and manifest["colour_head"] is True
    assert set(manifest["files"]) == {CONFIG, WEIGHTS, COLOUR}
    loaded = load_model_dir(out)
    assert loaded.spec == str(out.resolve()) and (loaded.size, loaded.mean, loaded.std) == (built.size, built.mean, built.std)
    assert loaded.checksum == f"{manifest['files'][WEIGHTS]['sha256']}+{manifest['files'][COLOUR]['sha256'][:16]}"
    torch.testing.assert_close(loaded.colour_head, colour_head)
    original = built.model.state_dict()
    assert all(torch.equal(value, original[key]) for key, value in loaded.model.state_dict().items())
    with torch.no_grad():
        tokens = loaded.tokenizer(["red circle"])
        torch.testing.assert_close(loaded.model.encode_text(tokens), built.model.encode_text(built.tokenizer(["red circle"])))


def test_a_finished_model_or_a_folder_of_other_files_is_not_overwritten(model_folder, tmp_path):
    out = model_folder[0]
    with pytest.raises(AlignError, match="--force"):
        check_writable(out, force=False)
    check_writable(out, force=True)
    check_writable(tmp_path / "new", force=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(AlignError, match="not empty"):
        check_writable(tmp_path / "busy", force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(AlignError, match="exists and is not a folder"):
        check_writable(tmp_path / "file", force=True)


def test_corrupted_weights_are_refused(model_folder, tmp_path):
    out = copy_model(model_folder, tmp_path)
    weights = out / "open_clip_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match="open_clip_model.safetensors does not match its sha256"):
        load_image_encoder(str(out))


def test_weights_that_do_not_fit_the_config_are_refused(model_folder, tmp_path):
    out = copy_model(model_folder, tmp_path)
    config = json.loads((out / "open_clip_config.json").read_text())
    config["model_cfg"]["embed_dim"] = 16
    (out / "open_clip_config.json").write_text(json.dumps(config))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"] = artifacts.record_files(out, recursive=True)
    (out / "manifest.json").write_text(json.dumps(artifacts.sealed(manifest)))
    with pytest.raises(ModelFolderError, match="cannot build|do not fit"):
        load_image_encoder(str(out))


@pytest.mark.parametrize("change, message", [
    (lambda out: (out / "manifest.json").unlink(), "not an aligned model folder"),
    (lambda out: (out / "manifest.json").write_text("{oops"), "corrupt"),
    (lambda out: (out / "colour_head.safetensors").unlink(), "colour_head.safetensors is missing"),
    (lambda out: (out / "manifest.json").write_text(json.dumps({"format": "rtag-aligned-model", "format_version": 99})), "format version 99"),
])
def test_broken_model_folders_give_clear_errors(model_folder, tmp_path, change, message):
    out = copy_model(model_folder, tmp_path)
    change(out)
    with pytest.raises(ModelFolderError, match=message):
        build_clip_model(str(out))
