"""The image tower of an open_clip model on ONNX Runtime, in float32: the CPU default.

Measured on rtag-lite (EfficientNet-Lite0 at 128 px) on 2 CPU cores, forward only: 1.6-1.75x
the images/s of torch's channels-last oneDNN path (1.3x from the files), with embeddings equal to float
precision (benchmarks/README.md). Exports are cached by the weights' checksum and input
size (cache.py). The export folder also records the preprocessing (size, mean, std), the
colour head of aligned models and whether texts share the space, so a query encodes photos
from a cached export with onnxruntime, numpy and PIL alone (:class:`OnnxImageEncoder`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from retrieval_tagger.encoders.onnx import cache as onnx_cache
from retrieval_tagger.encoders.pixels import (
    ImageBatchEncoder,
    decoded_batches,
    default_batch_size,
    default_workers,
    finish_batch,
    normalise,
    with_progress,
)

FORMAT = "rtag-onnx-image"
# 2: preprocessing, colour head and text space travel with the export
FORMAT_VERSION = 2
COLOUR_FILE = "colour_head.safetensors"


def export_key(checksum: str, size: int) -> str:
    """The cache folder name of the export of the weights with ``checksum`` at ``size`` px."""
    return f"{checksum[:24]}-{size}px"


class OnnxImageTower:
    """``tower(pixels)`` -> unnormalised image embeddings, for NCHW float32 torch batches
    (the torch encoder's tower when its backend is onnx)."""

    def __init__(self, folder: Path, threads: int | None = None):
        self.session = onnx_cache.cpu_session(folder, threads)

    def __call__(self, pixels):
        import torch

        array = np.ascontiguousarray(pixels.float().numpy())
        return torch.from_numpy(self.session.run(None, {"pixels": array})[0])


class OnnxImageEncoder(ImageBatchEncoder):
    """An image encoder built from a cached export alone: photos decoded by threads
    (pixels.py), the tower on ONNX Runtime, the colour head in numpy. Its ``encode``
    (texts, through the model's text tower) builds the torch model on first use."""

    kind = "image"
    backend = "onnx"
    device = "cpu"

    def __init__(self, spec: str, folder: Path, manifest: dict, text_tower: Callable[[], object] | None = None,
                 threads: int | None = None):
        self.spec = spec
        self.checksum = manifest["source_checksum"]
        self.size, self.dim = int(manifest["size"]), int(manifest["dim"])
        self.mean, self.std = tuple(manifest["mean"]), tuple(manifest["std"])
        self.text_space = bool(manifest["text_space"])
        self.colour_head = None
        if manifest.get("colour_head"):
            from safetensors.numpy import load_file

            self.colour_head = load_file(str(folder / manifest["colour_head"]))["weight"].astype(np.float32)
        self._folder, self._threads, self._session = folder, threads, None
        self._text_tower, self._text_encoder = text_tower, None

    @property
    def session(self):
        """The tower's ONNX Runtime session, started on first use: tagging texts alone
        never pays for it."""
        if self._session is None:
            self._session = onnx_cache.cpu_session(self._folder, self._threads)
        return self._session

    @classmethod
    def from_cache(cls, spec: str, checksum: str, size: int, text_tower: Callable[[], object] | None = None,
                   threads: int | None = None) -> "OnnxImageEncoder | None":
        """The encoder of the cached export of the weights with ``checksum`` at ``size``
        px, or None when the cache holds no intact one. ``text_tower()`` builds the
        encoder whose ``encode`` embeds texts, when one is asked for."""
        found = onnx_cache.find("onnx-image", export_key(checksum, size), FORMAT, FORMAT_VERSION)
        if found is None or found[1].get("source_checksum") != checksum:
            return None
        return cls(spec, *found, text_tower=text_tower, threads=threads)

    def encoded_batches(self, paths: list[str], batch_size: int | None = None, progress: bool | None = None, workers: int | None = None):
        """``(embeddings, colour histograms, decoded flags)`` batch by batch, in order; rows
        of undecodable images are zero."""
        if not len(paths):
            return iter(())
        workers = default_workers(len(paths)) if workers is None else workers
        batch_size = batch_size or default_batch_size(self.device, self.size, len(paths), workers)
        return self._encode(decoded_batches(list(paths), self.size, batch_size, workers), len(paths), progress)

    def _encode(self, batches, n_items: int, progress: bool | None):
        for pixels, hists, ok in with_progress(batches, n_items, progress):
            vectors = self.session.run(None, {"pixels": normalise(pixels, self.mean, self.std)})[0]
            yield finish_batch(vectors, hists, ok, self.colour_head), hists, ok

    def encode(self, texts: list[str], batch_size: int = 128, progress: bool | None = None) -> np.ndarray:
        """Embeddings of texts in this model's image-text space (its text tower)."""
        if self._text_encoder is None:
            if self._text_tower is None:
                raise RuntimeError(f"image model {self.spec} has no text tower loaded")
            self._text_encoder = self._text_tower()
        return self._text_encoder.encode(texts, batch_size, progress)
