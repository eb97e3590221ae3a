"""Queries: a batch of products as vectors, from new products (the encoding stage of
tagging, chunk by chunk) or from the catalog's own stored vectors (:class:`CatalogQueries`).

One call encodes its chunks in order. The images of the whole call are decoded by one
set of workers (the image encoder's ``encoded_batches``: torch DataLoader processes, or
threads on the torch-free ONNX path), which start once and decode ahead while chunks are
scored, instead of starting again for every chunk. With
an encoder on a GPU, a background thread encodes the next chunk while the caller scores
the current one: the GPU, the tokeniser and the decoding workers then keep going while
numpy and scipy count the votes (the heavy parts of each release the GIL). On a CPU the
encoders already use every core, so chunks are encoded in the caller's thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from queue import Empty, Full, Queue
from typing import Iterable, Iterator

import numpy as np

from retrieval_tagger.catalog import Product
from retrieval_tagger.encoders import colour, pixels
from retrieval_tagger.encoders.base import device_of, on_gpu, text_batch_size
from retrieval_tagger.index.store import stored_vectors


@dataclass
class Queries:
    """A batch of ``n`` products as vectors: which rows have text and image, and their vectors.

    ``self_rows[q]`` is the catalog row to leave out of query q's neighbours (-1: none),
    or None to leave nothing out.
    """

    n: int
    text_at: np.ndarray
    texts: list[str]
    text_vectors: np.ndarray | None
    image_at: np.ndarray
    image_vectors: np.ndarray | None = None
    colour_vectors: np.ndarray | None = None
    self_rows: np.ndarray | None = None


class CatalogQueries:
    """The index's own catalog products as query batches, from their stored vectors (for
    leave-one-out training and calibration): each product is left out of its own
    neighbours (``self_rows``). The stored vectors are read once, at construction."""

    def __init__(self, index):
        self.n_products = len(index.ids)
        self.stored = {}
        for name, modality in index.modalities.items():
            at = np.full(self.n_products, -1, dtype=np.int64)
            at[modality.rows] = np.arange(len(modality.rows))
            self.stored[name] = (np.asarray(stored_vectors(modality.index), dtype=np.float32), at)

    def batch(self, rows: np.ndarray, texts: list[str] | None = None) -> Queries:
        """Queries for catalog ``rows``; ``texts`` (one per row, optional) feed the
        signals that read words."""
        found = {}
        for name, (vectors, at) in self.stored.items():
            pos = at[rows]
            where = np.flatnonzero(pos >= 0)
            found[name] = (where, vectors[pos[where]])
        text_at, text_vectors = found.get("text", (np.zeros(0, np.int64), None))
        image_at, image_vectors = found.get("image", (np.zeros(0, np.int64), None))
        colour_vectors = None
        if "colour" in found and image_vectors is not None:
            # colour and image stores hold the same decodable photos
            colour_at, colours = found["colour"]
            colour_vectors = colours if np.array_equal(colour_at, image_at) else None
        words = [texts[i] for i in text_at] if texts is not None else []
        return Queries(len(rows), text_at, words, text_vectors, image_at, image_vectors, colour_vectors, self_rows=rows)


def has_text(product: Product) -> bool:
    return bool(product.text) and not product.problem


def has_image(product: Product) -> bool:
    return bool(product.image) and not product.problem


class RowStream:
    """The rows of an iterator of ``(vectors, colours, decoded flags)`` batches, handed out
    in runs of any length, in order."""

    def __init__(self, batches: Iterator, dim: int):
        self._batches, self._dim, self._left = batches, dim, None

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts, got = [], 0
        while got < n:
            batch = self._left if self._left is not None else next(self._batches)
            m = min(n - got, len(batch[2]))
            parts.append(tuple(a[:m] for a in batch))
            self._left = tuple(a[m:] for a in batch) if m < len(batch[2]) else None
            got += m
        if not parts:
            return np.zeros((0, self._dim), np.float32), np.zeros((0, colour.DIM), np.float32), np.zeros(0, bool)
        return tuple(np.concatenate(column) for column in zip(*parts))


def encode_chunks(index, text_encoder, image_encoder, items: list[Product], size: int, wanted: set[str],
                  exclude_self: bool) -> Iterator[tuple[list[Product], Queries, list[str | None]]]:
    """``(chunk, its queries, its warnings)`` for each run of ``size`` products of ``items``.

    Only the encoders of the ``wanted`` inputs (text, image, colour: see
    signals.registry.inputs_of) are run; with ``exclude_self`` a product whose id is in
    ``index`` is left out of its own neighbours.
    """
    images = None
    encoder = image_encoder
    if encoder is not None and {"image", "colour"} & wanted:
        paths = [p.image for p in items if has_image(p)]
        images = RowStream(encoder.encoded_batches(paths, progress=False), encoder.dim)
    id_rows = index.id_rows if exclude_self else None
    chunks = ((items[s:s + size], *encode_chunk(text_encoder, items[s:s + size], wanted, id_rows, images)) for s in range(0, len(items), size))
    if any(on_gpu(device_of(e)) for e in (text_encoder, encoder) if e is not None):
        return ahead(chunks)
    return chunks


def encode_chunk(text_encoder, products: list[Product], wanted: set[str], id_rows: dict[str, int] | None,
                 images: RowStream | None) -> tuple[Queries, list[str | None]]:
    """One chunk's queries and a warning per product (None, or why its image was left out).

    ``images`` holds the image rows of this chunk and the chunks after it, in order;
    ``id_rows`` (catalog id -> row), when given, leaves each product out of its own neighbours.
    """
    n = len(products)
    warnings: list[str | None] = [p.warning for p in products]  # e.g. an image file the catalog reader found missing
    # each product's own catalog row (-1 when it is not in the catalog), to leave it out
    self_rows = np.asarray([id_rows.get(p.id, -1) for p in products], dtype=np.int64) if id_rows is not None else None
    text_at = np.asarray([i for i, p in enumerate(products) if has_text(p)], dtype=np.int64)
    texts = [products[i].text for i in text_at]
    text_vectors = None
    if len(text_at) and "text" in wanted:
        batch = text_batch_size(device_of(text_encoder))
        text_vectors = text_encoder.encode(texts, batch_size=batch, progress=False)
    queries = Queries(n, text_at, texts, text_vectors, np.zeros(0, dtype=np.int64), self_rows=self_rows)
    image_at = np.asarray([i for i, p in enumerate(products) if has_image(p)], dtype=np.int64)
    if images is not None and len(image_at):
        vectors, colours, ok = images.take(len(image_at))
        for i in image_at[~ok]:
            warnings[i] = f"image could not be read: {pixels.describe(products[i].image)}"
        queries.image_at, queries.image_vectors, queries.colour_vectors = image_at[ok], vectors[ok], colours[ok]
    return queries, warnings


def ahead(items: Iterable) -> Iterator:
    """``items``, produced in a background thread at most one item ahead of the
    consumer. The producer's errors are raised in the consumer; a consumer that stops
    early stops the producer after the item it is working on."""
    queue: Queue = Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((end, exc))

    thread = threading.Thread(target=produce, name="rtag-encode-ahead", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item, error = queue.get(timeout=0.1)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    raise RuntimeError("the encoding thread stopped without a result") from None
                continue
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()
