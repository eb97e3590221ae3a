"""Image encoder on torch: an open_clip model, fed by a DataLoader that decodes in
parallel worker processes (the decoding itself is pixels.py's)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from retrieval_tagger.encoders.base import l2_normalise, on_gpu, pick_device
from retrieval_tagger.encoders.checksum import state_dict_sha256
from retrieval_tagger.encoders.pixels import (
    ImageBatchEncoder,
    decode_image,
    default_batch_size,
    default_workers,
    finish_batch,
    max_image_pixels,
    with_progress,
)
from retrieval_tagger.errors import EncoderError


class ImageFiles(Dataset):
    """Images as uint8 CHW tensors, their colour histograms, and a flag that is False for
    undecodable files. Pixels travel as bytes (a quarter of float32) and are normalised
    on the encoder's device."""

    def __init__(self, paths: list[str], size: int):
        self.paths = paths
        self.size = size
        self.max_pixels = max_image_pixels()  # read here, in the caller's process: a bad setting fails once

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        pixels, hist, ok = decode_image(self.paths[i], self.size, self.max_pixels)
        return torch.from_numpy(pixels), torch.from_numpy(hist), ok


class ClipImageEncoder(ImageBatchEncoder):
    """Wraps an open_clip model: ``encode_images`` for photos, ``encode`` for texts."""

    kind = "image"
    text_space = True  # images and texts share a trained space (see clip_models.ClipModel)

    def __init__(self, spec: str, model: torch.nn.Module, tokenizer, size: int, mean, std, device: str | None = None,
                 checksum: str | None = None, colour_head: torch.Tensor | None = None):
        self.spec = spec
        self.size = int(size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.device = pick_device(device)
        self.checksum = checksum or state_dict_sha256(model)
        model.eval()
        if self.device.startswith("cuda"):
            model = model.half()
        # channels-last makes the convolutions of CNN trunks 2-10x faster on CPU (measured
        # on EfficientNet-Lite0 with oneDNN); transformers are unaffected
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.tokenizer = tokenizer
        # aligned models (rtag align) add a linear map of the colour histogram to the image
        # embedding: ImageNet trunks carry little colour, the histogram does
        self.colour_head = None if colour_head is None else colour_head.float().to(self.device)
        with torch.no_grad():
            probe = torch.zeros(1, 3, self.size, self.size, device=self.device, dtype=self._dtype)
            self.dim = int(self.model.encode_image(probe).shape[-1])
        # what turns pixels into embeddings: the model itself, or its ONNX export (use_onnx)
        self.tower = self.model.encode_image
        self.backend = "torch-fp16" if on_gpu(self.device) else "torch"
        self.memory_format = torch.channels_last  # what the tower reads fastest

    def use_onnx(self) -> None:
        """Run the image tower on ONNX Runtime (CPU only; see onnx/image.py), exporting it
        (with this encoder's preprocessing and colour head) once per weights checksum."""
        from retrieval_tagger.encoders.onnx.export import cached_image_export
        from retrieval_tagger.encoders.onnx.image import OnnxImageTower

        if on_gpu(self.device):
            raise EncoderError(f"the onnx image backend runs on the CPU, not {self.device}: use --image-backend torch or --device cpu")
        folder, _ = cached_image_export(self)
        self.tower = OnnxImageTower(folder)
        self.backend = "onnx"
        self.memory_format = torch.contiguous_format  # ONNX Runtime takes NCHW as it is

    @property
    def _dtype(self):
        return torch.float16 if on_gpu(self.device) else torch.float32

    def encoded_batches(self, paths: list[str], batch_size: int | None = None, progress: bool | None = None, workers: int | None = None):
        """``(embeddings, colour histograms, decoded flags)`` batch by batch, in order; rows
        of undecodable images are zero. The decoding workers start at this call."""
        return self._encode(self.batches(paths, batch_size, progress, workers))

    def _encode(self, batches):
        for _, pixels, hists, flags in batches:
            # inference mode per batch only: a mode held across the yield would leak into the caller
            with torch.inference_mode():
                vectors = self.tower(pixels).float()
                if self.colour_head is not None:
                    vectors = vectors + hists.to(self.device) @ self.colour_head.T
                vectors = vectors.cpu().numpy()
            yield finish_batch(vectors, hists.numpy(), flags.numpy(), None), hists.numpy(), flags.numpy()

    def batches(self, paths: list[str], batch_size: int | None = None, progress: bool | None = None, workers: int | None = None):
        """``(start, pixels, colour histograms, decoded flags)`` per batch, decoded in
        parallel workers that start at this call; pixels are normalised on this encoder's
        device, in its dtype and the memory format its tower reads fastest. ``batch_size`` and ``workers`` default to
        :func:`pixels.default_batch_size` and :func:`pixels.default_workers`."""
        if not len(paths):
            return iter(())
        workers = default_workers(len(paths), self.device) if workers is None else workers
        loader = DataLoader(
            ImageFiles(list(paths), self.size),
            batch_size=batch_size or default_batch_size(self.device, self.size, len(paths), workers),
            num_workers=workers,
            pin_memory=on_gpu(self.device),
        )
        return self._on_device(iter(loader), len(paths), progress)

    def _on_device(self, loader, n_items: int, progress: bool | None):
        mean = torch.tensor(self.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        start = 0
        for pixels, hists, flags in with_progress(loader, n_items, progress):
            # bytes travel to the device (from pinned memory on a GPU, without waiting), then become floats
            pixels = pixels.to(self.device, non_blocking=True).float().div_(255.0).sub_(mean).div_(std)
            yield start, pixels.to(self._dtype).contiguous(memory_format=self.memory_format), hists, flags
            start += len(flags)

    def encode(self, texts: list[str], batch_size: int = 128, progress: bool | None = None) -> np.ndarray:
        """Embeddings of texts in this model's image-text space (its text tower)."""
        if self.tokenizer is None or not hasattr(self.model, "encode_text"):
            raise RuntimeError(f"image model {self.spec} has no text tower")
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(list(texts[start:start + batch_size])).to(self.device)
                chunks.append(self.model.encode_text(tokens).float().cpu().numpy())
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.concatenate(chunks))
