"""Building open_clip models from image specs: seeded random weights with their
preprocessing, local checkpoints (whose weights the checksum follows), and specs refused
with what to write instead."""

from __future__ import annotations

import pytest
import torch

from retrieval_tagger.encoders.checksum import state_dict_sha256
from retrieval_tagger.encoders.clip_models import build_open_clip, register_configs
from retrieval_tagger.encoders.registry import load_image_encoder
from retrieval_tagger.errors import EncoderError


def test_random_weights_are_seeded_and_come_with_their_preprocessing():
    first, again = build_open_clip("rtag-tiny:random"), build_open_clip("rtag-tiny:random")
    assert first.checksum == again.checksum == state_dict_sha256(first.model)
    assert (first.size, first.tokenizer_name, first.text_space) == (32, "rtag-tiny", True)
    assert first.config["embed_dim"] == 32 and len(first.mean) == len(first.std) == 3
    tokens = first.tokenizer(["red shirt", "blue jeans"])
    with torch.no_grad():
        texts = first.model.encode_text(tokens)
        images = first.model.encode_image(torch.zeros(1, 3, first.size, first.size))
    assert texts.shape == (2, 32) and images.shape == (1, 32)


def test_a_local_checkpoint_is_loaded_and_checksummed_by_its_weights(tmp_path):
    import open_clip

    register_configs()
    torch.manual_seed(1)
    other = open_clip.create_model("rtag-tiny")
    ckpt = tmp_path / "tiny.pt"
    torch.save(other.state_dict(), ckpt)
    loaded = build_open_clip(f"rtag-tiny:{ckpt}")
    assert loaded.checksum == state_dict_sha256(other) != build_open_clip("rtag-tiny:random").checksum


def test_bad_image_specs_are_refused_with_what_to_write():
    with pytest.raises(EncoderError, match="unknown image model 'no-such-arch:x'"):
        load_image_encoder("no-such-arch:x")
    with pytest.raises(EncoderError, match="names no weights"):
        load_image_encoder("rtag-tiny:")
    with pytest.raises(EncoderError, match="checkpoint file not found"):
        load_image_encoder("rtag-tiny:/no/such/ckpt.pt")
    with pytest.raises(EncoderError, match="between 32 and 1024"):
        load_image_encoder("rtag-lite@8")
    with pytest.raises(EncoderError, match="expected rtag-lite@SIZE"):
        load_image_encoder("rtag-lite@big")
