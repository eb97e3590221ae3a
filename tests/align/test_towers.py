"""The towers of an open_clip model split at their projections, and which text layers train."""

from __future__ import annotations

import torch
from shapes import ALIGN_BASE, ALIGN_OPTS

from retrieval_tagger.align.towers import ImageTower, TextTower
from retrieval_tagger.align.train import AlignOptions, align
from retrieval_tagger.encoders.registry import build_clip_model


def test_towers_split_exactly_at_the_projections():
    built = build_clip_model(ALIGN_BASE)
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
    base = build_clip_model(ALIGN_BASE).model.state_dict()
    man = align(shapes_csv, tmp_path / "unlocked", base=ALIGN_BASE, options=AlignOptions(**{**ALIGN_OPTS, "epochs": 1, "unlocked_text_layers": 1}))
    loaded = build_clip_model(str(tmp_path / "unlocked")).model.state_dict()
    top = [k for k in base if k.startswith("transformer.resblocks.0.")]
    assert any(not torch.equal(base[k], loaded[k]) for k in top)
    assert torch.equal(base["token_embedding.weight"], loaded["token_embedding.weight"])  # below the unlocked layer
    assert man["training"]["options"]["unlocked_text_layers"] == 1
