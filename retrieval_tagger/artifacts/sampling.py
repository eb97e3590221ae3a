"""The id-hash sampler: samples and splits picked by a stable hash of product ids, so that
they do not depend on row order."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np


def _sha1(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


def hash_sample(ids: Sequence[str], size: int | None = None) -> np.ndarray:
    """Positions in ``ids`` of the ``size`` ids (all when None) whose sha1 comes first, in
    increasing position order: a sample that follows the ids, not their order. Ties (equal
    8-byte prefixes) go to the earlier position."""
    keys = np.fromiter((int.from_bytes(_sha1(i)[:8], "big") for i in ids), dtype=np.uint64, count=len(ids))
    return np.sort(np.argsort(keys, kind="stable")[:size])


def hash_bucket(item_id: str, buckets: int, salt: str = "") -> int:
    """The bucket in ``[0, buckets)`` of an id, from the first 4 bytes of the sha1 of
    ``salt + id``: a split that follows the id and stays put as the catalog grows."""
    return int.from_bytes(_sha1(salt + item_id)[:4], "big") % buckets
