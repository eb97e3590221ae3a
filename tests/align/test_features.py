"""Frozen-tower features for alignment: token ids trimmed of all-padding columns, and the
features computed once, read back from their cache, and computed again when it changes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from shapes import ALIGN_BASE, write_shapes_catalog

from retrieval_tagger.align import features
from retrieval_tagger.align.pairs import data_sha256, read_pairs
from retrieval_tagger.encoders.registry import build_clip_model


class PaddedTokenizer:
    """Like an open_clip HFTokenizer: a fixed width, padded with ``tokenizer.pad_token_id``."""

    tokenizer = SimpleNamespace(pad_token_id=0)

    def __call__(self, texts):
        out = torch.zeros(len(texts), 8, dtype=torch.long)
        for row, text in enumerate(texts):
            out[row, : len(text.split())] = torch.arange(1, len(text.split()) + 1)
        return out


def test_hugging_face_tokens_lose_the_columns_that_are_padding_in_every_row():
    tokens = features.tokenize(PaddedTokenizer(), ["red circle", "a big blue square"])
    assert tokens.tolist() == [[1, 2, 0, 0], [1, 2, 3, 4]]
    assert features.tokenize(PaddedTokenizer(), [""]).shape == (1, 1)
    clip = lambda texts: torch.zeros(len(texts), 8, dtype=torch.long)  # noqa: E731 (no pad id: CLIP's own width)
    assert features.tokenize(clip, ["red circle"]).shape == (1, 8)


def test_the_cache_key_names_the_model_the_data_the_size_and_the_text_side():
    key = features.cache_key("model", "data", 32, False)
    others = [features.cache_key("other", "data", 32, False), features.cache_key("model", "other", 32, False),
              features.cache_key("model", "data", 64, False), features.cache_key("model", "data", 32, True)]
    assert len({key, *others}) == 5 and key == features.cache_key("model", "data", 32, False)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    folder = tmp_path_factory.mktemp("features")
    pairs, _, _ = read_pairs(write_shapes_catalog(folder / "shapes", per_class=1))
    return build_clip_model(ALIGN_BASE), pairs, folder


def test_features_are_computed_once_then_read_from_the_cache(setting, tmp_path, monkeypatch):
    built, pairs, _ = setting
    data = data_sha256(pairs)
    first = features.load_or_compute(built, pairs, data, tmp_path, "cpu", text_cached=True)
    assert first.image.shape[0] == first.colour.shape[0] == first.text.shape[0] == len(pairs) and first.ok.all()

    def no_compute(*args, **kwargs):
        raise AssertionError("computed again although the cache holds the features")

    monkeypatch.setattr(features, "image_features", no_compute)
    again = features.load_or_compute(built, pairs, data, tmp_path, "cpu", text_cached=True)
    for name in ("image", "colour", "ok", "text"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    monkeypatch.undo()
    # without the text side the key differs: computed again, and no text features kept
    image_only = features.load_or_compute(built, pairs, data, tmp_path, "cpu", text_cached=False)
    assert image_only.text is None
    np.testing.assert_allclose(image_only.image, first.image, atol=1e-6)
    assert len(list(tmp_path.glob("features-*"))) == 2


def test_a_damaged_cache_is_computed_again(setting, tmp_path):
    built, pairs, _ = setting
    data = data_sha256(pairs)
    first = features.load_or_compute(built, pairs, data, tmp_path, "cpu", text_cached=False)
    (folder,) = tmp_path.glob("features-*")
    (folder / "image.npy").write_bytes(b"short")
    again = features.load_or_compute(built, pairs, data, tmp_path, "cpu", text_cached=False)
    np.testing.assert_array_equal(again.image, first.image)
