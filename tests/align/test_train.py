"""rtag align: learning on coloured shapes, the model folder, resuming, determinism, errors."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from shapes import SHAPE_COLOURS, SHAPES, draw_shape, write_shapes_catalog

from retrieval_tagger import artifacts
from retrieval_tagger.align import checkpoint
from retrieval_tagger.align.pairs import read_pairs
from retrieval_tagger.align.recall import retrieval_recall
from retrieval_tagger.align.towers import ImageTower, TextTower
from retrieval_tagger.align.train import AlignOptions, align
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.encoders.registry import build_clip_model, load_image_encoder
from retrieval_tagger.errors import AlignError, ModelFolderError

BASE = "rtag-tiny:random"
# the tiny random text tower means nothing, so its projection is trained too
OPTS = dict(epochs=25, batch_size=64, lr=3e-3, val_fraction=0.2, patience=25, warmup_steps=5, text_projection=True)


@pytest.fixture(scope="module")
def shapes_csv(tmp_path_factory) -> Path:
    return write_shapes_catalog(tmp_path_factory.mktemp("shapes"), per_class=16)


@pytest.fixture(scope="module")
def trained(shapes_csv, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("models") / "shapes"
    man = align(shapes_csv, out, base=BASE, options=AlignOptions(**OPTS))
    return out, man


def caption_accuracy(encoder, folder: Path, seed: int = 99) -> float:
    """Match new shape images (not in the catalog) to the right one of the 12 captions."""
    rng = random.Random(seed)
    captions = [f"{c} {s}" for c in SHAPE_COLOURS for s in SHAPES]
    paths, truth = [], []
    folder.mkdir(parents=True, exist_ok=True)
    for i, caption in enumerate(captions * 4):
        colour, shape = caption.split()
        path = folder / f"new{i}.png"
        draw_shape(shape, SHAPE_COLOURS[colour], rng).save(path)
        paths.append(str(path))
        truth.append(i % len(captions))
    images, _ = encoder.encode_images(paths)
    texts = encoder.encode(captions)
    return float(((images @ texts.T).argmax(axis=1) == np.asarray(truth)).mean())


def test_alignment_matches_new_images_to_their_captions(trained, tmp_path):
    out, man = trained
    before = caption_accuracy(load_image_encoder(BASE), tmp_path / "a")
    after = caption_accuracy(load_image_encoder(str(out)), tmp_path / "b")
    chance = 1 / 12
    print(f"caption accuracy before {before:.3f}, after {after:.3f}")
    assert after >= 5 * chance, (before, after)
    assert after > before + 0.25
    assert man["training"]["best"]["mean_r1"] > man["training"]["unaligned"]["mean_r1"]


def test_model_folder_round_trips_to_the_validation_recall(trained, shapes_csv):
    out, man = trained
    encoder = load_image_encoder(str(out))
    pairs, _, _ = read_pairs(shapes_csv, CatalogSpec(), OPTS["val_fraction"])
    rows = np.flatnonzero(pairs.val)
    images, _ = encoder.encode_images([pairs.images[i] for i in rows])
    texts = [pairs.texts[i] for i in rows]
    recall = retrieval_recall(images, encoder.encode(texts), texts)
    best = man["training"]["best"]
    for key in ("i2t_r1", "t2i_r1", "i2t_r10", "t2i_r10"):
        assert recall[key] == pytest.approx(best[key], abs=1e-3)
    again = load_image_encoder(str(out))
    assert again.checksum == encoder.checksum
    np.testing.assert_allclose(again.encode(texts), encoder.encode(texts), atol=1e-6)


def test_model_folder_is_self_describing(trained):
    out, man = trained
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["format"] == "rtag-aligned-model" and on_disk["format_version"] == 1
    assert on_disk["base"]["spec"] == BASE
    assert set(on_disk["files"]) == {"open_clip_config.json", "open_clip_model.safetensors", "colour_head.safetensors"}
    training = on_disk["training"]
    assert len(training["data_sha256"]) == 64 and training["epochs_run"] == len(training["history"])
    assert not (out / ".rtag-align").exists()  # the work area is removed once the folder is complete


def test_same_seed_gives_the_same_model(trained, shapes_csv, tmp_path):
    out, man = trained
    again = align(shapes_csv, tmp_path / "again", base=BASE, options=AlignOptions(**OPTS))
    assert again["files"]["open_clip_model.safetensors"]["sha256"] == man["files"]["open_clip_model.safetensors"]["sha256"]


def test_an_interrupted_run_resumes_from_its_checkpoint(shapes_csv, tmp_path, monkeypatch):
    opts = AlignOptions(**{**OPTS, "epochs": 6})
    whole = align(shapes_csv, tmp_path / "whole", base=BASE, options=opts)
    real_save, calls = checkpoint.save, []

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        align(shapes_csv, tmp_path / "resumed", base=BASE, options=opts)
    assert (tmp_path / "resumed" / ".rtag-align" / checkpoint.STATE).is_file()
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    monkeypatch.setattr(checkpoint, "save", real_save)
    resumed = align(shapes_csv, tmp_path / "resumed", base=BASE, options=opts)
    assert len(calls) == 3
    drop_time = lambda history: [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in history]  # noqa: E731
    assert drop_time(resumed["training"]["history"]) == drop_time(whole["training"]["history"])
    assert resumed["files"]["open_clip_model.safetensors"]["sha256"] == whole["files"]["open_clip_model.safetensors"]["sha256"]


def test_towers_split_exactly_at_the_projections():
    built = build_clip_model(BASE)
    model = built.model
    pixels = torch.randn(2, 3, built.size, built.size)
    image = ImageTower(model)
    assert image.kind == "proj"
    with torch.no_grad():
        torch.testing.assert_close(image.head(image.features(pixels)), model.encode_image(pixels))
        tokens = built.tokenizer(["red circle", "blue square"])
        text = TextTower(model)
        torch.testing.assert_close(text.head(text.features(tokens)), model.encode_text(tokens))
    assert model.text_projection is not None  # restored after the split


def test_unlocked_text_layers_are_trained(shapes_csv, tmp_path):
    base = build_clip_model(BASE).model.state_dict()
    man = align(shapes_csv, tmp_path / "unlocked", base=BASE, options=AlignOptions(**{**OPTS, "epochs": 2, "unlocked_text_layers": 1}))
    loaded = load_image_encoder(str(tmp_path / "unlocked")).model.state_dict()
    top = [k for k in base if k.startswith("transformer.resblocks.0.")]
    assert any(not torch.equal(base[k], loaded[k]) for k in top)
    assert torch.equal(base["token_embedding.weight"], loaded["token_embedding.weight"])  # below the unlocked layer
    assert man["training"]["options"]["unlocked_text_layers"] == 1


def test_align_starts_from_a_local_checkpoint(shapes_csv, tmp_path):
    from safetensors.torch import save_file

    ckpt = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in build_clip_model(BASE).model.state_dict().items()}, str(ckpt))
    man = align(shapes_csv, tmp_path / "from_ckpt", base=f"rtag-tiny:{ckpt}", options=AlignOptions(**{**OPTS, "epochs": 2}))
    assert man["base"]["spec"] == f"rtag-tiny:{ckpt}"
    assert load_image_encoder(str(tmp_path / "from_ckpt")).dim == 32


def copy_model(trained, tmp_path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(trained[0], out)
    return out


def test_corrupted_weights_are_refused(trained, tmp_path):
    out = copy_model(trained, tmp_path)
    weights = out / "open_clip_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match="open_clip_model.safetensors does not match its sha256"):
        load_image_encoder(str(out))


def test_weights_that_do_not_fit_the_config_are_refused(trained, tmp_path):
    out = copy_model(trained, tmp_path)
    config = json.loads((out / "open_clip_config.json").read_text())
    config["model_cfg"]["embed_dim"] = 16
    (out / "open_clip_config.json").write_text(json.dumps(config))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"] = artifacts.record_files(out, recursive=True)
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFolderError, match="cannot build|do not fit"):
        load_image_encoder(str(out))


@pytest.mark.parametrize("change, message", [
    (lambda out: (out / "manifest.json").unlink(), "not an aligned model folder"),
    (lambda out: (out / "manifest.json").write_text("{oops"), "corrupt"),
    (lambda out: (out / "colour_head.safetensors").unlink(), "colour_head.safetensors is missing"),
    (lambda out: (out / "manifest.json").write_text(json.dumps({"format": "rtag-aligned-model", "format_version": 99})), "format version 99"),
])
def test_broken_model_folders_give_clear_errors(trained, tmp_path, change, message):
    out = copy_model(trained, tmp_path)
    change(out)
    with pytest.raises(ModelFolderError, match=message):
        build_clip_model(str(out))


def test_align_refuses_to_overwrite_or_to_train_without_pairs(trained, shapes_csv, tmp_path):
    with pytest.raises(AlignError, match="--force"):
        align(shapes_csv, trained[0], base=BASE, options=AlignOptions(**OPTS))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(AlignError, match="not empty"):
        align(shapes_csv, tmp_path / "busy", base=BASE, options=AlignOptions(**OPTS))
    text_only = tmp_path / "text_only.csv"
    text_only.write_text("id,title\n1,red circle\n2,blue square\n")
    with pytest.raises(AlignError, match="text and an image"):
        align(text_only, tmp_path / "none", base=BASE, options=AlignOptions(**OPTS))
    with pytest.raises(AlignError, match="unknown align option"):
        AlignOptions.from_kwargs(epoch=3)


def test_index_uses_an_aligned_model_folder_and_index_align_keeps_its_own(trained, tmp_path):
    from retrieval_tagger.build import BuildOptions, build_index
    from retrieval_tagger.pipeline import Tagger

    rows = [{"id": f"p{i}", "title": f"{c} {s}", "image": str(Path(trained[1]["training"]["catalog"]).parent / "images" / f"{c}-{s}-{i % 4}.png"),
             "colour": c, "shape": s} for i, (c, s) in enumerate((c, s) for c in SHAPE_COLOURS for s in SHAPES for _ in range(4))]
    import csv

    catalog = tmp_path / "tagged.csv"
    with catalog.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    spec = CatalogSpec(facet_cols=["colour", "shape"])
    relative = Path(trained[0]).relative_to(Path.cwd()) if Path(trained[0]).is_relative_to(Path.cwd()) else trained[0]
    man = build_index(catalog, tmp_path / "with_folder", spec, BuildOptions(text_model="hash:64", image_model=str(relative)))
    assert man["encoders"]["image"]["spec"] == str(Path(trained[0]).resolve())
    Tagger.load(tmp_path / "with_folder", image_model=str(trained[0]))

    man = build_index(catalog, tmp_path / "with_align", spec,
                      BuildOptions(text_model="hash:64", image_model=BASE, align=AlignOptions(**{**OPTS, "epochs": 2})))
    assert man["encoders"]["image"]["spec"] == "@index/image_model"
    assert (tmp_path / "with_align" / "image_model" / "manifest.json").is_file()
    assert not (tmp_path / ".with_align.aligned-model").exists()
    results = Tagger.load(tmp_path / "with_align").tag([{"id": "q", "title": "red circle", "image": rows[0]["image"]}])
    assert results[0].tags
