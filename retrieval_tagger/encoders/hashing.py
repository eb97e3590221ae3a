"""``hash:DIM``: a deterministic, model-free text encoder.

Bags of words and character trigrams hashed into DIM buckets. It needs no weights and
loads instantly, which makes it the encoder of the test suite, and a fallback for
catalogs where exact wording matters more than meaning.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from retrieval_tagger.encoders.base import l2_normalise
from retrieval_tagger.errors import EncoderError

_WORD_RE = re.compile(r"\w+", re.UNICODE)


class HashingTextEncoder:
    kind = "text"

    def __init__(self, dim: int = 256):
        self.dim = int(dim)
        self.spec = f"hash:{self.dim}"
        self.checksum = hashlib.sha256(self.spec.encode()).hexdigest()

    @classmethod
    def from_spec(cls, spec: str) -> "HashingTextEncoder":
        """The encoder ``hash:DIM`` names."""
        try:
            dim = int(spec.split(":", 1)[1])
        except ValueError as exc:
            raise EncoderError(f"text spec {spec!r}: expected hash:DIM with an integer DIM, e.g. hash:256") from exc
        if dim < 8:
            raise EncoderError(f"text spec {spec!r}: DIM must be at least 8")
        return cls(dim)

    def _features(self, text: str) -> list[str]:
        words = _WORD_RE.findall(text.lower())
        grams = [f"#{w[i:i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
        return words + grams

    def encode(self, texts: list[str], batch_size: int = 0, progress: bool | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) == 0 else -1.0
        return l2_normalise(out)
