"""Image encoder: an open_clip model, fed by a DataLoader that decodes in parallel.

Product photos are padded to a square with white (the usual studio background) before
resizing, so the whole product stays in view whatever the aspect ratio.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from retrieval_tagger.encoders import colour
from retrieval_tagger.encoders.base import (
    cpu_cores,
    l2_normalise,
    on_gpu,
    pick_device,
    show_progress,
)
from retrieval_tagger.encoders.checksum import state_dict_sha256
from retrieval_tagger.errors import EncoderError


def load_rgb(path: str, size: int) -> Image.Image:
    """Decode an image as RGB (JPEGs at a reduced scale when much larger than ``size``)."""
    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            # transparent pixels keep an arbitrary stored colour (often black): show them as white
            white = Image.new("RGBA", img.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
        return img.convert("RGB")


def pad_square(img: Image.Image, size: int) -> Image.Image:
    """Pad an image to a white square and resize it to ``size`` pixels."""
    side = max(img.size)
    if img.size != (side, side):
        canvas = Image.new("RGB", (side, side), (255, 255, 255))
        canvas.paste(img, ((side - img.size[0]) // 2, (side - img.size[1]) // 2))
        img = canvas
    return img.resize((size, size), Image.BICUBIC)


class ImageFiles(Dataset):
    """Images as uint8 CHW tensors, their colour histograms, and a flag that is False for
    undecodable files. Pixels travel as bytes (a quarter of float32) and are normalised
    on the encoder's device."""

    def __init__(self, paths: list[str], size: int):
        self.paths = paths
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            img = load_rgb(self.paths[i], self.size)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            return torch.zeros(3, self.size, self.size, dtype=torch.uint8), torch.zeros(colour.DIM), False
        hist = torch.from_numpy(colour.colour_histogram(img))
        square = pad_square(img, self.size)
        return torch.from_numpy(np.asarray(square, dtype=np.uint8).copy()).permute(2, 0, 1), hist, True


# On a GPU a batch holds about as many pixels as this many images at 224 px. Not yet
# measured on a GPU: gpu_bench.py's forward-only sweep over batch sizes is there to set it.
GPU_BATCH_AT_224 = 256
GPU_MAX_BATCH = 512


def default_workers(n_items: int, device: str = "cpu") -> int:
    """Decoding worker processes: none for small jobs (starting workers costs more than
    they save). On a CPU at most 4, since the model needs the same cores; on a GPU all
    cores but the one that feeds the device."""
    if n_items < 64:
        return 0
    cores = cpu_cores()
    if on_gpu(device):
        return max(1, min(32, cores - 1))
    return max(1, min(4, cores - 1))


def default_batch_size(device: str, size: int, n_items: int, workers: int) -> int:
    """Images per batch: 64 on a CPU. On a GPU as many as fit ``GPU_BATCH_AT_224`` images'
    worth of pixels (at most ``GPU_MAX_BATCH``), but small enough that every decoding
    worker gets a batch: a worker decodes whole batches, so fewer batches than workers
    would leave cores idle."""
    if not on_gpu(device):
        return 64
    by_pixels = GPU_BATCH_AT_224 * 224 * 224 // (size * size)
    per_worker = -(-n_items // max(workers, 1))
    return int(max(16, min(GPU_MAX_BATCH, by_pixels, per_worker)))


class ClipImageEncoder:
    """Wraps an open_clip model: ``encode_images`` for photos, ``encode`` for texts."""

    kind = "image"
    text_space = True  # images and texts share a trained space (see registry.ClipModel)

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
        """Run the image tower on ONNX Runtime (CPU only; see onnx_image.py)."""
        from retrieval_tagger.encoders.onnx.image import OnnxImageTower

        if on_gpu(self.device):
            raise EncoderError(f"the onnx image backend runs on the CPU, not {self.device}: use --image-backend torch or --device cpu")
        self.tower = OnnxImageTower(self.model, self.size, self.checksum)
        self.backend = "onnx"
        self.memory_format = torch.contiguous_format  # ONNX Runtime takes NCHW as it is

    @property
    def _dtype(self):
        return torch.float16 if on_gpu(self.device) else torch.float32

    def encode_images(self, paths: list[str], batch_size: int | None = None, progress: bool | None = None, workers: int | None = None):
        """Embeddings of the images at ``paths`` and a boolean mask of those that decoded.

        Rows of undecodable images are zero.
        """
        vectors, _, ok = self.encode_images_and_colours(paths, batch_size, progress, workers)
        return vectors, ok

    def encode_images_and_colours(self, paths: list[str], batch_size: int | None = None, progress: bool | None = None, workers: int | None = None):
        """Embeddings, colour histograms (see colour.py) and the decoded mask, in one pass."""
        parts = list(self.encoded_batches(paths, batch_size, progress, workers))
        if not parts:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, colour.DIM), np.float32), np.zeros(0, bool)
        return tuple(np.concatenate(column) for column in zip(*parts))

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
            ok = flags.numpy()
            vectors[~ok] = 0.0
            normed = l2_normalise(vectors)
            normed[~ok] = 0.0
            yield normed, hists.numpy(), ok

    def batches(self, paths: list[str], batch_size: int | None = None, progress: bool | None = None, workers: int | None = None):
        """``(start, pixels, colour histograms, decoded flags)`` per batch, decoded in
        parallel workers that start at this call; pixels are normalised on this encoder's
        device, in its dtype and the memory format its tower reads fastest. ``batch_size`` and ``workers`` default to
        :func:`default_batch_size` and :func:`default_workers`."""
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
        bar = None
        if show_progress(n_items, progress):
            from tqdm import tqdm

            bar = tqdm(total=n_items, desc="images", unit="img")
        start = 0
        try:
            for pixels, hists, flags in loader:
                # bytes travel to the device (from pinned memory on a GPU, without waiting), then become floats
                pixels = pixels.to(self.device, non_blocking=True).float().div_(255.0).sub_(mean).div_(std)
                yield start, pixels.to(self._dtype).contiguous(memory_format=self.memory_format), hists, flags
                start += len(flags)
                if bar is not None:
                    bar.update(len(flags))
        finally:
            if bar is not None:
                bar.close()

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
