"""No model hub at load time: the models an index names load from local files only.

Building an index with a model named on the command line (``rtag index --text-model
NAME``, ``--image-model ARCH:TAG``, ``rtag align --base ARCH:TAG``) may download its
weights once into the Hugging Face cache. Loading the models an index names (``rtag tag``,
``rtag eval``, a Tagger) never connects to a hub: the Hugging Face libraries run offline,
and weights missing from the local cache are an error that names the override,
``RTAG_ALLOW_DOWNLOAD=1``.
"""

from __future__ import annotations

import contextlib
import os
import sys

from retrieval_tagger.errors import EncoderError

ALLOW_DOWNLOAD = "RTAG_ALLOW_DOWNLOAD"
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def downloads_allowed() -> bool:
    """Whether the user allowed downloads at load time ($RTAG_ALLOW_DOWNLOAD=1)."""
    return os.environ.get(ALLOW_DOWNLOAD, "").strip().lower() in ("1", "true", "yes")


@contextlib.contextmanager
def offline(enabled: bool = True):
    """Inside, huggingface_hub (and so sentence-transformers, transformers and open_clip's
    hub weights) reads its local cache only. Not thread-safe: it flips process state.

    huggingface_hub reads HF_HUB_OFFLINE once, at its import: the variables cover a first
    import inside the block, and the flag it read is set directly when it was imported
    before; both are put back afterwards."""
    if not enabled:
        yield
        return
    saved = {name: os.environ.get(name) for name in _OFFLINE_VARIABLES}
    constants = sys.modules.get("huggingface_hub.constants")
    flag = getattr(constants, "HF_HUB_OFFLINE", None)
    os.environ.update({name: "1" for name in _OFFLINE_VARIABLES})
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        constants = sys.modules.get("huggingface_hub.constants")
        if constants is not None:  # imported before the block, or first inside it
            constants.HF_HUB_OFFLINE = flag if flag is not None else _env_offline(saved)


def _env_offline(saved: dict) -> bool:
    return any((saved[name] or "").strip().upper() in ("1", "ON", "YES", "TRUE") for name in _OFFLINE_VARIABLES)


def not_cached(role: str, spec: str, exc: Exception) -> EncoderError:
    """The error for a model an index names whose weights are not on this machine."""
    return EncoderError(
        f"the {role} model {spec!r} that the index names is not in the local cache, and rtag does not download models "
        f"when it loads an index ({type(exc).__name__}): run once with {ALLOW_DOWNLOAD}=1 to let it download the weights, "
        "or copy the model's folder to this machine"
    )
