"""Progress bars (tqdm) for long jobs: shown when asked, or by default when a job is long.

Every job that counts items takes ``progress``: True shows a bar, False hides it, None
(the default) shows one for jobs of at least ``min_items`` items unless the environment
sets ``RTAG_NO_PROGRESS=1`` (for logs and tests).
"""

from __future__ import annotations

import os

LONG_JOB = 256  # items: shorter jobs finish before a bar tells anything


def show_progress(n_items: int, progress: bool | None, min_items: int = LONG_JOB) -> bool:
    """Whether a job over ``n_items`` items shows a bar: ``progress`` if given, else
    for long jobs only, and never under ``RTAG_NO_PROGRESS=1``."""
    if progress is not None:
        return progress
    return n_items >= min_items and os.environ.get("RTAG_NO_PROGRESS") != "1"


def progress_bar(total: int, desc: str, unit: str, progress: bool | None = None, initial: int = 0, min_items: int = LONG_JOB):
    """A tqdm bar over ``total`` items, disabled (every call a no-op) unless
    :func:`show_progress` wants it; use it as a context manager so it is closed."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not show_progress(total, progress, min_items))
