"""The model-free hashing text encoder (hash:DIM)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.encoders.registry import load_text_encoder
from retrieval_tagger.errors import EncoderError


def test_hashing_encoder_is_deterministic_and_normalised():
    enc = load_text_encoder("hash:64")
    a = enc.encode(["red cotton shirt", "red cotton shirt", "blue denim jeans", ""])
    assert a.shape == (4, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a[0], a[1])
    np.testing.assert_allclose(np.linalg.norm(a[:3], axis=1), 1.0, rtol=1e-6)
    assert np.all(a[3] == 0)  # nothing to hash: a zero vector, not NaN
    assert a[0] @ a[2] < a[0] @ enc.encode(["red shirt"])[0]
    assert enc.spec == "hash:64" and enc.dim == 64
    assert enc.checksum == load_text_encoder("hash:64").checksum != load_text_encoder("hash:32").checksum


def test_hashing_encoder_ignores_case():
    enc = load_text_encoder("hash:64")
    np.testing.assert_array_equal(enc.encode(["RED Shirt"]), enc.encode(["red shirt"]))


def test_bad_hash_specs_are_refused():
    with pytest.raises(EncoderError, match="hash:DIM with an integer DIM"):
        load_text_encoder("hash:big")
    with pytest.raises(EncoderError, match="at least 8"):
        load_text_encoder("hash:4")
