"""Image encoder: an open_clip model, fed by a DataLoader that decodes in parallel.

Product photos are padded to a square with white (the usual studio background) before
resizing, so the whole product stays in view whatever the aspect ratio.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from retrieval_tagger.encoders import colour
from retrieval_tagger.encoders.base import l2_normalise, pick_device, show_progress
from retrieval_tagger.encoders.checksum import state_dict_sha256


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
    """Images as normalised CHW float tensors, their colour histograms, and a flag that
    is False for undecodable files."""

    def __init__(self, paths: list[str], size: int, mean, std):
        self.paths = paths
        self.size = size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            img = load_rgb(self.paths[i], self.size)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            return torch.zeros(3, self.size, self.size), torch.zeros(colour.DIM), False
        hist = torch.from_numpy(colour.colour_histogram(img))
        square = pad_square(img, self.size)
        array = torch.from_numpy(np.asarray(square, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)
        return (array - self.mean) / self.std, hist, True


def default_workers(n_items: int) -> int:
    """Decode in worker processes only when there is enough work to pay for starting them."""
    if n_items < 64:
        return 0
    return max(1, min(4, (os.cpu_count() or 2) - 1))


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

    @property
    def _dtype(self):
        return torch.float16 if self.device.startswith("cuda") else torch.float32

    def encode_images(self, paths: list[str], batch_size: int = 64, progress: bool | None = None, workers: int | None = None):
        """Embeddings of the images at ``paths`` and a boolean mask of those that decoded.

        Rows of undecodable images are zero.
        """
        vectors, _, ok = self.encode_images_and_colours(paths, batch_size, progress, workers)
        return vectors, ok

    def encode_images_and_colours(self, paths: list[str], batch_size: int = 64, progress: bool | None = None, workers: int | None = None):
        """Embeddings, colour histograms (see colour.py) and the decoded mask, in one pass."""
        out = np.zeros((len(paths), self.dim), dtype=np.float32)
        hists = np.zeros((len(paths), colour.DIM), dtype=np.float32)
        ok = np.zeros(len(paths), dtype=bool)
        with torch.inference_mode():
            for start, pixels, batch_hists, flags in self.batches(paths, batch_size, progress, workers):
                vectors = self.model.encode_image(pixels).float()
                if self.colour_head is not None:
                    vectors = vectors + batch_hists.to(self.device) @ self.colour_head.T
                out[start:start + len(flags)] = vectors.cpu().numpy()
                hists[start:start + len(flags)] = batch_hists.numpy()
                ok[start:start + len(flags)] = flags.numpy()
        out[~ok] = 0.0
        normed = l2_normalise(out)
        normed[~ok] = 0.0
        return normed, hists, ok

    def batches(self, paths: list[str], batch_size: int = 64, progress: bool | None = None, workers: int | None = None):
        """Yield ``(start, pixels, colour histograms, decoded flags)`` per batch, decoding in
        parallel workers; pixels are on this encoder's device, in its dtype, channels-last."""
        if not paths:
            return
        loader = DataLoader(
            ImageFiles(list(paths), self.size, self.mean, self.std),
            batch_size=batch_size,
            num_workers=default_workers(len(paths)) if workers is None else workers,
            pin_memory=self.device.startswith("cuda"),
        )
        bar = None
        if show_progress(len(paths), progress):
            from tqdm import tqdm

            bar = tqdm(total=len(paths), desc="images", unit="img")
        start = 0
        try:
            for pixels, batch_hists, flags in loader:
                pixels = pixels.to(self.device, dtype=self._dtype, non_blocking=True).contiguous(memory_format=torch.channels_last)
                yield start, pixels, batch_hists, flags
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
