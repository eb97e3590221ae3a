"""The image tower of an open_clip model on ONNX Runtime, in float32: the CPU default.

Measured on rtag-lite (EfficientNet-Lite0 at 128 px) on 2 CPU cores, forward only: 1.6-1.75x
the images/s of torch's channels-last oneDNN path (1.3x from the files), with embeddings equal to float
precision (benchmarks/README.md). Exports are cached by the weights' checksum and input
size (onnx_cache.py); the colour head of aligned models and normalisation stay outside.
"""

from __future__ import annotations

import numpy as np
import torch

from retrieval_tagger.encoders.onnx import cache as onnx_cache
from retrieval_tagger.encoders.onnx.export import export

FORMAT = "rtag-onnx-image"
FORMAT_VERSION = 1


class OnnxImageTower:
    """``tower(pixels)`` -> unnormalised image embeddings, for NCHW float32 batches."""

    def __init__(self, model: torch.nn.Module, size: int, checksum: str, threads: int | None = None):
        folder, _ = onnx_cache.cached("onnx-image", f"{checksum[:24]}-{size}px", FORMAT, FORMAT_VERSION,
                                      lambda out: _export(model, size, checksum, out), "the image model")
        self.session = onnx_cache.cpu_session(folder, threads)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(pixels.float().numpy())
        return torch.from_numpy(self.session.run(None, {"pixels": array})[0])


class _Visual(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return self.model.encode_image(pixels)


def _export(model: torch.nn.Module, size: int, checksum: str, folder) -> dict:
    sample = torch.zeros(2, 3, size, size)
    wrapper = _Visual(model).eval().float()
    with torch.inference_mode():
        dim = int(wrapper(sample).shape[-1])
    export(wrapper, (sample,), folder / onnx_cache.MODEL_FILE, ["pixels"], ["embedding"],
           {"pixels": {0: "batch"}, "embedding": {0: "batch"}}, "image")
    return {"source_checksum": checksum, "size": size, "dim": dim, "precision": "float32", "versions": onnx_cache.versions()}
