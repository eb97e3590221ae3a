"""Product photos as model input, with numpy and PIL only: decode, pad to a white square,
resize, colour histogram, normalise; batches decoded in a thread pool.

Product photos are padded to a square with white (the usual studio background) before
resizing, so the whole product stays in view whatever the aspect ratio. The torch image
encoder (image.py) feeds the same decoding through torch's DataLoader; the ONNX query
path (onnx/image.py) runs it here, without torch.

Decoding costs a bounded amount whatever the photo: JPEGs decode at 1/2, 1/4 or 1/8 scale
straight from the DCT (``draft``), close to the model's size; PNG, WebP, TIFF and GIF
cannot decode reduced in Pillow, so a photo of more than ``max_image_pixels()`` pixels
(after drafting) is refused before any pixel is decoded, with a warning naming it; below
the limit a large photo is shrunk by a whole factor (``Image.reduce``) right after
decoding, before any copy, colour histogram or padding.
"""

from __future__ import annotations

import io
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from retrieval_tagger.encoders import colour
from retrieval_tagger.encoders.base import cpu_cores, l2_normalise, on_gpu
from retrieval_tagger.errors import EncoderError
from retrieval_tagger.progress import show_progress

log = logging.getLogger("rtag")

# On a GPU a batch holds about as many pixels as this many images at 224 px. Not yet
# measured on a GPU: gpu_bench.py's forward-only sweep over batch sizes is there to set it.
GPU_BATCH_AT_224 = 256
GPU_MAX_BATCH = 512


# Photos with more pixels than this (after a JPEG's reduced decoding) are refused: other
# formats decode whole first. Measured on a 7000 x 7000 photo (49 MP): PNG, TIFF and GIF
# peak at 190-240 MB above the process, RGBA PNG at 380 MB, WebP at 750 MB (the old code:
# 875 MB for each); a 12000 x 12000 JPEG decodes at 1/8 scale in 15 MB. A 48-megapixel
# camera frame (8000 x 6000) still fits; a 12000 x 12000 PNG does not. RTAG_MAX_IMAGE_PIXELS
# overrides.
MAX_IMAGE_PIXELS = 50_000_000
# A decoded photo larger than this many times the model's input is first shrunk by a whole
# factor (a box filter, cheap), then resampled: Pillow's "reducing gap", whose results at 3
# its documentation calls indistinguishable from resampling the full image in most cases.
REDUCING_GAP = 3
_REDUCIBLE_MODES = ("L", "LA", "RGB", "RGBA")


def max_image_pixels() -> int:
    """The largest photo decoded, in pixels: ``RTAG_MAX_IMAGE_PIXELS`` or ``MAX_IMAGE_PIXELS``."""
    text = os.environ.get("RTAG_MAX_IMAGE_PIXELS", "").strip()
    if not text:
        return MAX_IMAGE_PIXELS
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise EncoderError(f"RTAG_MAX_IMAGE_PIXELS must be a whole number of pixels above 0, got {text!r}")
    return value


class ImageTooLargeError(EncoderError):
    """A photo has more pixels than the decoding limit (``max_image_pixels``)."""


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info


def _shrunk(img: Image.Image, size: int) -> Image.Image:
    """``img`` reduced by the largest whole factor that keeps its long side at least
    ``REDUCING_GAP * size`` (itself when no factor of 2 or more fits)."""
    factor = max(img.size) // (REDUCING_GAP * size)
    if factor < 2:
        return img
    if img.mode not in _REDUCIBLE_MODES or "transparency" in img.info:
        # palettes, 16-bit and colour-keyed pixels cannot be averaged as they are
        img = img.convert("RGBA" if _has_alpha(img) else "RGB")
    return img.reduce(factor)


def describe(source) -> str:
    """How an image source is named in messages: its path, or what was handed over."""
    if isinstance(source, (bytes, bytearray)):
        return f"image of {len(source):,} bytes"
    if isinstance(source, Image.Image):
        return f"{source.width}x{source.height} image"
    return str(source)


def _opened(source) -> Image.Image:
    """An image source opened lazily (header only): a path, the file's bytes (an upload,
    no temporary file) or a PIL image (copied, so the caller's stays as it was)."""
    if isinstance(source, Image.Image):
        return source.copy()
    return Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)


def load_rgb(path, size: int, max_pixels: int | None = None) -> Image.Image:
    """Decode an image (a path, the bytes of an image file, or a PIL image) as RGB at a
    bounded cost: JPEGs at a reduced scale, any photo much larger than ``size`` shrunk by a
    whole factor; one of more than ``max_pixels`` (default :func:`max_image_pixels`)
    raises ImageTooLargeError before decoding."""
    limit = max_image_pixels() if max_pixels is None else max_pixels
    with _opened(path) as img:
        img.draft("RGB", (size, size))  # JPEG only: the size below is then the reduced one
        width, height = img.size
        if width * height > limit:
            raise ImageTooLargeError(
                f"image {describe(path)} is {width}x{height} pixels, over the limit of {limit:,} (RTAG_MAX_IMAGE_PIXELS): "
                "not decoded; shrink the photo or raise the limit"
            )
        img = _shrunk(img, size)
        if _has_alpha(img):
            # transparent pixels keep an arbitrary stored colour (often black): show them as white
            white = Image.new("RGBA", img.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
        # (a copy, but the image is small by now: at most 2 * REDUCING_GAP * size on its long side)
        return img.convert("RGB")


def pad_square(img: Image.Image, size: int) -> Image.Image:
    """Pad an image to a white square and resize it to ``size`` pixels."""
    side = max(img.size)
    if img.size != (side, side):
        canvas = Image.new("RGB", (side, side), (255, 255, 255))
        canvas.paste(img, ((side - img.size[0]) // 2, (side - img.size[1]) // 2))
        img = canvas
    return img.resize((size, size), Image.BICUBIC)


def decode_image(path, size: int, max_pixels: int | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(uint8 CHW pixels, colour histogram, decoded)`` of the photo ``path`` (see
    :func:`load_rgb` for what it may be); an
    undecodable file gives zeros and False, and one over the pixel limit (``max_pixels``,
    see :func:`load_rgb`) a warning as well."""
    try:
        img = load_rgb(path, size, max_pixels)
    except (ImageTooLargeError, Image.DecompressionBombError) as exc:
        log.warning("%s", exc if isinstance(exc, ImageTooLargeError) else f"image {describe(path)} not decoded: {exc}")
        return _undecoded(size)
    except (OSError, UnidentifiedImageError, ValueError):
        return _undecoded(size)
    hist = colour.colour_histogram(img)
    square = np.asarray(pad_square(img, size), dtype=np.uint8)
    return np.ascontiguousarray(square.transpose(2, 0, 1)), hist, True


def _undecoded(size: int) -> tuple[np.ndarray, np.ndarray, bool]:
    return np.zeros((3, size, size), np.uint8), np.zeros(colour.DIM, np.float32), False


def decode_batch(paths: list[str], size: int, max_pixels: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(uint8 NCHW pixels, colour histograms, decoded flags)`` of ``paths``."""
    decoded = [decode_image(p, size, max_pixels) for p in paths]
    return (np.stack([d[0] for d in decoded]), np.stack([d[1] for d in decoded]).astype(np.float32),
            np.asarray([d[2] for d in decoded], dtype=bool))


def decoded_batches(paths: list[str], size: int, batch_size: int, workers: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`decode_batch` of each run of ``batch_size`` paths, in order, decoded by
    ``workers`` threads a few batches ahead (none: in the caller's thread). PIL decodes
    and resizes without holding the GIL, so threads decode while the model runs."""
    limit = max_image_pixels()  # read here, so a bad setting fails the call, not each photo
    starts = range(0, len(paths), batch_size)
    if workers <= 0:
        for s in starts:
            yield decode_batch(paths[s:s + batch_size], size, limit)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="rtag-decode")
    pending: deque = deque()
    try:
        for s in starts:
            pending.append(pool.submit(decode_batch, paths[s:s + batch_size], size, limit))
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
