"""Product photos as model input, with numpy and PIL only: decode, pad to a white square,
resize, colour histogram, normalise; batches decoded in a thread pool.

Product photos are padded to a square with white (the usual studio background) before
resizing, so the whole product stays in view whatever the aspect ratio. The torch image
encoder (image.py) feeds the same decoding through torch's DataLoader; the ONNX query
path (onnx/image.py) runs it here, without torch.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from retrieval_tagger.encoders import colour
from retrieval_tagger.encoders.base import (
    cpu_cores,
    l2_normalise,
    on_gpu,
    show_progress,
)

# On a GPU a batch holds about as many pixels as this many images at 224 px. Not yet
# measured on a GPU: gpu_bench.py's forward-only sweep over batch sizes is there to set it.
GPU_BATCH_AT_224 = 256
GPU_MAX_BATCH = 512


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


def decode_image(path: str, size: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(uint8 CHW pixels, colour histogram, decoded)`` of the photo at ``path``; an
    undecodable file gives zeros and False."""
    try:
        img = load_rgb(path, size)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return np.zeros((3, size, size), np.uint8), np.zeros(colour.DIM, np.float32), False
    hist = colour.colour_histogram(img)
    square = np.asarray(pad_square(img, size), dtype=np.uint8)
    return np.ascontiguousarray(square.transpose(2, 0, 1)), hist, True


def decode_batch(paths: list[str], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(uint8 NCHW pixels, colour histograms, decoded flags)`` of ``paths``."""
    decoded = [decode_image(p, size) for p in paths]
    return (np.stack([d[0] for d in decoded]), np.stack([d[1] for d in decoded]).astype(np.float32),
            np.asarray([d[2] for d in decoded], dtype=bool))


def decoded_batches(paths: list[str], size: int, batch_size: int, workers: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`decode_batch` of each run of ``batch_size`` paths, in order, decoded by
    ``workers`` threads a few batches ahead (none: in the caller's thread). PIL decodes
    and resizes without holding the GIL, so threads decode while the model runs."""
    starts = range(0, len(paths), batch_size)
    if workers <= 0:
        for s in starts:
            yield decode_batch(paths[s:s + batch_size], size)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="rtag-decode")
    pending: deque = deque()
    try:
        for s in starts:
            pending.append(pool.submit(decode_batch, paths[s:s + batch_size], size))
            if len(pending) > 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def normalise(pixels: np.ndarray, mean, std) -> np.ndarray:
    """uint8 NCHW pixels as float32 scaled to [0, 1], less ``mean``, over ``std`` (per
    channel), computed in float32 in the order the torch encoder uses."""
    mean = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
    out = pixels.astype(np.float32)
    out /= np.float32(255.0)
    out -= mean
    out /= std
    return out


def finish_batch(vectors: np.ndarray, hists: np.ndarray, ok: np.ndarray, colour_head: np.ndarray | None) -> np.ndarray:
    """Unit image embeddings from a tower's output: the colour head's share added (aligned
    models), rows of undecodable images zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if colour_head is not None:
        vectors = vectors + hists @ colour_head.T
    vectors[~ok] = 0.0
    normed = l2_normalise(vectors)
    normed[~ok] = 0.0
    return normed


def default_workers(n_items: int, device: str = "cpu") -> int:
    """Decoding workers: none for small jobs (starting workers costs more than they save).
    On a CPU at most 4, since the model needs the same cores; on a GPU all cores but the
    one that feeds the device."""
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


class ImageBatchEncoder:
    """What every image encoder offers on top of its ``encoded_batches``: whole-call
    embeddings, with colour histograms and decoded flags."""

    dim: int

    def encoded_batches(self, paths: list[str], batch_size: int | None = None, progress: bool | None = None, workers: int | None = None):
        raise NotImplementedError

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


def with_progress(batches: Iterator, n_items: int, progress: bool | None) -> Iterator:
    """``batches`` (tuples whose last item holds one flag per image) as they come, counted
    on a progress bar over ``n_items`` images when one is wanted (see show_progress)."""
    bar = None
    if show_progress(n_items, progress):
        from tqdm import tqdm

        bar = tqdm(total=n_items, desc="images", unit="img")
    try:
        for batch in batches:
            yield batch
            if bar is not None:
                bar.update(len(batch[-1]))
    finally:
        if bar is not None:
            bar.close()
