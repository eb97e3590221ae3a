"""The tagging pipeline: products -> encoders -> kNN per modality -> votes -> fusion -> tags.

No file I/O beyond what the encoders read; :class:`Tagger` is the Python API that the
CLI mirrors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from retrieval_tagger.candidates import fuse, knn
from retrieval_tagger.catalog import Product, clean_text
from retrieval_tagger.encoders.base import show_progress
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder
from retrieval_tagger.errors import EncoderMismatchError, RtagError
from retrieval_tagger.index import store
from retrieval_tagger.index.reader import OpenIndex, check_encoder, open_index

# Measured on the fashion dev split (benchmarks/fashion_knn.py, see benchmarks/README.md).
DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.05
DEFAULT_WEIGHTS = {"text": 0.6, "image": 0.4}


@dataclass
class TagOptions:
    """How products are tagged. Unknown option names are refused with the valid list."""

    k: int = DEFAULT_K
    temperature: float = DEFAULT_TEMPERATURE
    weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    top_n: int = 10
    min_score: float = 0.0
    exclusive: bool = True
    exclude_self: bool = False
    chunk_size: int = 512
    progress: bool | None = None

    @classmethod
    def from_kwargs(cls, **kwargs) -> "TagOptions":
        valid = set(cls.__dataclass_fields__)
        unknown = sorted(set(kwargs) - valid)
        if unknown:
            raise RtagError(f"unknown tagging option(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
        opts = cls(**kwargs)
        if opts.k < 1:
            raise RtagError(f"k must be at least 1, got {opts.k}")
        if opts.temperature <= 0:
            raise RtagError(f"temperature must be positive, got {opts.temperature}")
        if opts.top_n < 1:
            raise RtagError(f"top_n must be at least 1, got {opts.top_n}")
        bad = sorted(set(opts.weights) - {"text", "image"})
        if bad or any(w < 0 for w in opts.weights.values()):
            raise RtagError(f"weights must be non-negative and named text/image, got {opts.weights}")
        return opts


@dataclass
class TagResult:
    """Tags for one product; ``error`` says why a product could not be tagged."""

    id: str
    tags: list[dict] = field(default_factory=list)
    error: str | None = None
    warning: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def as_product(item: Product | dict) -> Product:
    """Accept a :class:`Product` or a dict with id, text (or title/description), image."""
    if isinstance(item, Product):
        return item
    if not isinstance(item, dict):
        raise RtagError(f"a product must be a dict or Product, got {type(item).__name__}")
    text = item.get("text")
    if text is None:
        text = " ".join(str(item[k]) for k in ("title", "description") if item.get(k))
    image = item.get("image") or None
    product = Product(id=str(item.get("id", "")), text=clean_text(text), image=str(image) if image else None)
    if not product.text and not product.image:
        product.problem = "no text and no image"
    return product


class Tagger:
    """Tags products against one index. Build it with :meth:`Tagger.load`."""

    def __init__(self, index: OpenIndex, text_encoder, image_encoder):
        self.index = index
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder if "image" in index.modalities else None

    @classmethod
    def load(cls, index: str | Path, text_model: str | None = None, image_model: str | None = None, device: str | None = None, verify: str = "size") -> "Tagger":
        """Open an index and load the encoders its manifest names.

        ``text_model``/``image_model`` may name the encoders explicitly (for example a
        local copy); they must be the same models that built the index.
        """
        opened = open_index(index, verify=verify)
        recorded = opened.manifest["encoders"]
        for role, requested in (("text", text_model), ("image", image_model)):
            if requested and role in recorded and requested != recorded[role]["spec"]:
                raise EncoderMismatchError(
                    f"index {opened.folder} was built with {role} model {recorded[role]['spec']!r}, not {requested!r}: "
                    "query with the same model or rebuild the index"
                )
        text_enc = load_text_encoder(recorded["text"]["spec"], device)
        image_enc = load_image_encoder(recorded["image"]["spec"], device) if "image" in recorded else None
        check_encoder(opened, "text", text_enc)
        check_encoder(opened, "image", image_enc)
        return cls(opened, text_enc, image_enc)

    # -- scoring -----------------------------------------------------------------

    def _modality_votes(self, name: str, vectors: np.ndarray, query_ids: list[str], opts: TagOptions) -> np.ndarray:
        modality = self.index.modalities[name]
        extra = 1 if opts.exclude_self else 0
        sims, store_rows = store.search(modality.index, vectors, opts.k + extra)
        rows = np.where(store_rows >= 0, modality.rows[np.maximum(store_rows, 0)], -1)
        if opts.exclude_self:
            self_rows = np.asarray([self.index.id_rows.get(pid, -1) for pid in query_ids], dtype=np.int64)
            sims, rows = knn.drop_self(sims, rows, self_rows, opts.k)
        weights = knn.neighbour_weights(sims, rows, opts.temperature)
        return knn.vote(weights, rows, self.index.product_tags)

    def _score_chunk(self, products: list[Product], opts: TagOptions) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
        """Fused scores (products x tags), which products have any signal, and warnings."""
        n_tags = len(self.index.vocab)
        ids = [p.id for p in products]
        scores, present = {}, {}
        text_at = np.asarray([i for i, p in enumerate(products) if p.text and not p.problem], dtype=np.int64)
        votes = np.zeros((len(products), n_tags), dtype=np.float32)
        if len(text_at):
            vectors = self.text_encoder.encode([products[i].text for i in text_at], progress=False)
            votes[text_at] = self._modality_votes("text", vectors, [ids[i] for i in text_at], opts)
        scores["text"], present["text"] = votes, np.isin(np.arange(len(products)), text_at)
        warnings: list[str | None] = [None] * len(products)
        if self.image_encoder is not None:
            image_at = np.asarray([i for i, p in enumerate(products) if p.image and not p.problem], dtype=np.int64)
            votes = np.zeros((len(products), n_tags), dtype=np.float32)
            has_image = np.zeros(len(products), dtype=bool)
            if len(image_at):
                vectors, ok = self.image_encoder.encode_images([products[i].image for i in image_at], progress=False, workers=0 if len(image_at) < 64 else None)
                for i in image_at[~ok]:
                    warnings[i] = f"image could not be read: {products[i].image}"
                good = image_at[ok]
                if len(good):
                    votes[good] = self._modality_votes("image", vectors[ok], [ids[i] for i in good], opts)
                has_image[good] = True
            scores["image"], present["image"] = votes, has_image
        fused = fuse.fuse(scores, present, opts.weights)
        any_signal = np.logical_or.reduce([present[m] & (opts.weights.get(m, 0) > 0) for m in present])
        return fused, any_signal, warnings

    def score(self, products: Iterable[Product | dict], **options) -> tuple[np.ndarray, np.ndarray, list[Product], list[str | None]]:
        """Fused scores for every product and tag, for evaluation and analysis."""
        opts = TagOptions.from_kwargs(**options)
        items = [as_product(p) for p in products]
        chunks, signal, warnings = [], [], []
        for start in self._chunk_starts(len(items), opts):
            fused, sig, warn = self._score_chunk(items[start:start + opts.chunk_size], opts)
            chunks.append(fused)
            signal.append(sig)
            warnings.extend(warn)
        if not chunks:
            return np.zeros((0, len(self.index.vocab)), np.float32), np.zeros(0, bool), items, []
        return np.concatenate(chunks), np.concatenate(signal), items, warnings

    def _chunk_starts(self, n: int, opts: TagOptions):
        starts = range(0, n, opts.chunk_size)
        if show_progress(n, opts.progress) and n > opts.chunk_size:
            from tqdm import tqdm

            return tqdm(starts, desc="tagging", unit="chunk", total=len(starts))
        return starts

    def tag(self, products: Iterable[Product | dict], **options) -> list[TagResult]:
        """Tag products; every input appears in the output, with ``error`` if untaggable.

        Options (see :class:`TagOptions`): k, temperature, weights, top_n, min_score,
        exclusive, exclude_self, chunk_size, progress.
        """
        opts = TagOptions.from_kwargs(**options)
        scores, signal, items, warnings = self.score(products, **asdict(opts))
        picked = fuse.select(scores, self.index.vocab, opts.top_n, opts.min_score, opts.exclusive) if len(items) else []
        tags = self.index.vocab.tags
        results = []
        for i, product in enumerate(items):
            if product.problem:
                results.append(TagResult(product.id, error=product.problem))
            elif not signal[i]:
                results.append(TagResult(product.id, error=warnings[i] or "nothing to tag from", warning=None))
            else:
                chosen = [{"tag": tags[c], "score": round(s, 4)} for c, s in picked[i] if round(s, 4) > 0]
                results.append(TagResult(product.id, chosen, warning=warnings[i]))
        return results
