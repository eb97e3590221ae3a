"""rtag align on coloured shapes: new images matched to their captions, the model folder's
validation recall, determinism, starting points and refusals."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from shapes import (
    ALIGN_BASE,
    ALIGN_OPTS,
    SHAPE_COLOURS,
    SHAPES,
    draw_shape,
    write_shapes_catalog,
)

from retrieval_tagger.align.pairs import read_pairs
from retrieval_tagger.align.recall import retrieval_recall
from retrieval_tagger.align.train import AlignOptions, align
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.encoders.registry import build_clip_model, load_image_encoder
from retrieval_tagger.errors import AlignError


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


@pytest.mark.slow  # trains on the shapes
def test_alignment_matches_new_images_to_their_captions(aligned, tmp_path):
    out, man = aligned
    before = caption_accuracy(load_image_encoder(ALIGN_BASE), tmp_path / "a")
    after = caption_accuracy(load_image_encoder(str(out), backend="torch"), tmp_path / "b")
    chance = 1 / 12
    print(f"caption accuracy before {before:.3f}, after {after:.3f}")
    assert after >= 5 * chance, (before, after)
    assert after > before + 0.25
    assert man["training"]["best"]["mean_r1"] > man["training"]["unaligned"]["mean_r1"]


@pytest.mark.slow  # trains on the shapes
def test_model_folder_round_trips_to_the_validation_recall(aligned, shapes_csv):
    out, man = aligned
    encoder = load_image_encoder(str(out), backend="torch")
    pairs, _, _ = read_pairs(shapes_csv, CatalogSpec(), ALIGN_OPTS["val_fraction"])
    rows = np.flatnonzero(pairs.val)
    images, _ = encoder.encode_images([pairs.images[i] for i in rows])
    texts = [pairs.texts[i] for i in rows]
    recall = retrieval_recall(images, encoder.encode(texts), texts)
    best = man["training"]["best"]
    for key in ("i2t_r1", "t2i_r1", "i2t_r10", "t2i_r10"):
        assert recall[key] == pytest.approx(best[key], abs=1e-3)
    again = load_image_encoder(str(out), backend="torch")
    assert again.checksum == encoder.checksum
    np.testing.assert_allclose(again.encode(texts), encoder.encode(texts), atol=1e-6)


@pytest.mark.slow  # trains on the shapes
def test_model_folder_is_self_describing(aligned):
    out, man = aligned
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["format"] == "rtag-aligned-model" and on_disk["format_version"] == 1
    assert on_disk["base"]["spec"] == ALIGN_BASE
    assert set(on_disk["files"]) == {"open_clip_config.json", "open_clip_model.safetensors", "colour_head.safetensors"}
    training = on_disk["training"]
    assert len(training["data_sha256"]) == 64 and training["epochs_run"] == len(training["history"])
    assert not (out / ".rtag-align").exists()  # the work area is removed once the folder is complete


@pytest.mark.slow  # trains on the shapes
def test_same_seed_gives_the_same_model(aligned, shapes_csv, shapes_features, tmp_path):
    out, man = aligned
    again = align(shapes_csv, tmp_path / "again", base=ALIGN_BASE, options=AlignOptions(**ALIGN_OPTS), cache_dir=shapes_features)
    assert again["files"]["open_clip_model.safetensors"]["sha256"] == man["files"]["open_clip_model.safetensors"]["sha256"]


def test_align_starts_from_a_local_checkpoint(shapes_csv, shapes_features, tmp_path):
    from safetensors.torch import save_file

    ckpt = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in build_clip_model(ALIGN_BASE).model.state_dict().items()}, str(ckpt))
    man = align(shapes_csv, tmp_path / "from_ckpt", base=f"rtag-tiny:{ckpt}", options=AlignOptions(**{**ALIGN_OPTS, "epochs": 2}),
                cache_dir=shapes_features)  # the same weights as ALIGN_BASE: the same frozen features
    assert man["base"]["spec"] == f"rtag-tiny:{ckpt}"
    assert load_image_encoder(str(tmp_path / "from_ckpt"), backend="torch").dim == 32


def test_align_refuses_to_overwrite_or_to_train_without_pairs(shapes_csv, tmp_path):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "manifest.json").write_text("{}")  # a finished model folder
    with pytest.raises(AlignError, match="--force"):
        align(shapes_csv, tmp_path / "done", base=ALIGN_BASE, options=AlignOptions(**ALIGN_OPTS))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(AlignError, match="not empty"):
        align(shapes_csv, tmp_path / "busy", base=ALIGN_BASE, options=AlignOptions(**ALIGN_OPTS))
    text_only = tmp_path / "text_only.csv"
    text_only.write_text("id,title\n1,red circle\n2,blue square\n")
    with pytest.raises(AlignError, match="text and an image"):
        align(text_only, tmp_path / "none", base=ALIGN_BASE, options=AlignOptions(**ALIGN_OPTS))


@pytest.mark.slow
def test_align_rtag_lite_writes_a_self_contained_model_folder(tmp_path):
    """The offline default: frozen EfficientNet trunk, MiniLM text tower (copied into
    the folder with its tokenizer), frozen text projection; the folder loads back (on
    torch: the ONNX export of an aligned folder is tested on the tiny model)."""
    catalog = write_shapes_catalog(tmp_path / "shapes", per_class=2)
    man = align(catalog, tmp_path / "model", base="rtag-lite", options=AlignOptions(epochs=2, batch_size=32, val_fraction=0.2, text_projection=False))
    assert man["tokenizer"] == {"kind": "hf", "path": "text", "context_length": 128}
    assert {"text/config.json", "text/tokenizer.json", "text/vocab.txt"} <= set(man["files"])
    encoder = load_image_encoder(str(tmp_path / "model"), backend="torch")
    assert encoder.dim == 384 and encoder.text_space
    texts = encoder.encode(["red circle", "blue square"])
    # the text projection stayed the identity: tag names keep their MiniLM meaning
    from transformers import AutoModel

    from retrieval_tagger.encoders.lite import minilm_path

    minilm = AutoModel.from_pretrained(minilm_path()).eval()  # the packaged MiniLM, as rtag-lite's text tower loads it
    with torch.no_grad():
        tokens = encoder.tokenizer(["red circle", "blue square"])
        raw = minilm(input_ids=tokens, attention_mask=(tokens != 0).long()).last_hidden_state
    mask = (tokens != 0).unsqueeze(-1).float()
    pooled = ((raw * mask).sum(1) / mask.sum(1)).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(texts, pooled, atol=1e-4)
    images, ok = encoder.encode_images([str(p) for p in sorted((tmp_path / "shapes" / "images").glob("*.png"))[:3]])
    assert ok.all() and np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
