"""Image-title pairs for alignment, their validation split and a hash of the data.

Only the id, text and image columns are read: tags never reach alignment, so zero-shot
tagging with the aligned model stays honest about the tags.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval_tagger import artifacts
from retrieval_tagger.catalog import CatalogReport, CatalogSpec, read_catalog
from retrieval_tagger.errors import AlignError

MIN_PAIRS = 8


@dataclass
class Pairs:
    ids: list[str]
    texts: list[str]
    images: list[str]
    val: np.ndarray  # True for the held-out validation pairs

    def __len__(self) -> int:
        return len(self.ids)


def validation_mask(ids: list[str], fraction: float) -> np.ndarray:
    """Hold out about ``fraction`` of the pairs, chosen by a hash of the id (stable across runs)."""
    buckets = np.asarray([artifacts.hash_bucket(i, 10_000) for i in ids], dtype=np.int64)
    return buckets < int(round(fraction * 10_000))


def read_pairs(path: str | Path, spec: CatalogSpec | None = None, val_fraction: float = 0.05) -> tuple[Pairs, CatalogReport, int]:
    """Pairs of the catalog's products that have both text and an image.

    Returns the pairs, the catalog report and how many products were skipped for lacking
    one of the two.
    """
    spec = spec or CatalogSpec()
    columns_only = CatalogSpec(id_col=spec.id_col, text_cols=spec.text_cols, image_col=spec.image_col, strict=spec.strict)
    products, report = read_catalog(path, columns_only)
    usable = [p for p in products if p.text and p.image]
    if len(usable) < MIN_PAIRS:
        raise AlignError(
            f"{Path(path).name} has {len(usable)} products with both text and an image; alignment needs at least {MIN_PAIRS} "
            "(check --text-cols and --image-col)"
        )
    ids = [p.id for p in usable]
    val = validation_mask(ids, val_fraction)
    if val_fraction > 0 and not val.any():
        val[-1] = True  # tiny catalogs: keep at least one pair to validate on
    if val.all():
        raise AlignError(f"--val-fraction {val_fraction} leaves no pairs to train on")
    return Pairs(ids, [p.text for p in usable], [p.image for p in usable], val), report, len(products) - len(usable)


def data_sha256(pairs: Pairs) -> str:
    """Identifies the training data: ids, texts, image paths and image file sizes, in order."""
    digest = hashlib.sha256()
    for pid, text, image in zip(pairs.ids, pairs.texts, pairs.images):
        try:
            size = os.path.getsize(image)
        except OSError:
            size = -1
        digest.update(f"{pid}\x1f{text}\x1f{Path(image).name}\x1f{size}\x1e".encode("utf-8"))
    return digest.hexdigest()
