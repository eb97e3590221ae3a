"""Frozen-tower features for alignment, computed once and cached on disk.

The cache lives in the model folder's work area and is keyed by the base model's
checksum, the data hash and the resolution, so a resumed run reuses it and a changed
catalog or model recomputes it.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from retrieval_tagger import artifacts
from retrieval_tagger.align.towers import ImageTower, TextTower
from retrieval_tagger.errors import AlignError
from retrieval_tagger.progress import progress_bar

CACHE_VERSION = 1
CACHE = artifacts.Format("rtag-align-features", CACHE_VERSION, "an alignment feature cache", AlignError, "it is computed again")


@dataclass
class Features:
    image: np.ndarray  # (N, F) frozen image features
    colour: np.ndarray  # (N, colour.DIM) colour histograms
    ok: np.ndarray  # (N,) image decoded
    text: np.ndarray | None  # (N, T) frozen text features, or None when text layers are trained


def tokenize(tokenizer, texts: list[str]) -> torch.Tensor:
    """Token ids, with the trailing columns that are padding in every row removed.

    Only for Hugging Face towers, whose attention mask comes from the pad id; built-in
    CLIP text towers need the full context length.
    """
    tokens = tokenizer(list(texts))
    pad = getattr(getattr(tokenizer, "tokenizer", None), "pad_token_id", None)
    if pad is None or tokens.numel() == 0:
        return tokens
    used = (tokens != pad).any(dim=0).nonzero()
    width = int(used[-1]) + 1 if len(used) else 1
    return tokens[:, :width].contiguous()


def cache_key(checksum: str, data_hash: str, size: int, text_cached: bool) -> str:
    raw = f"{CACHE_VERSION}|{checksum}|{data_hash}|{size}|{text_cached}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def image_features(built, images: list[str], device: str, batch_size: int, progress: bool | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frozen image features, colour histograms and decoded flags for ``images``."""
    from retrieval_tagger.encoders.image import ClipImageEncoder
    from retrieval_tagger.encoders.lite import fold_trunk

    model = fold_trunk(copy.deepcopy(built.model))
    encoder = ClipImageEncoder(built.spec, model, None, built.size, built.mean, built.std, device, checksum=built.checksum)
    tower = ImageTower(encoder.model)
    chunks, colours, flags = [], [], []
    with torch.inference_mode():
        for _, pixels, hists, ok in encoder.batches(images, batch_size, progress):
            chunks.append(tower.features(pixels).float().cpu().numpy())
            colours.append(hists.numpy())
            flags.append(ok.numpy())
    return np.concatenate(chunks), np.concatenate(colours).astype(np.float32), np.concatenate(flags)


def text_features(model, tokenizer, texts: list[str], device: str, batch_size: int = 256, progress: bool | None = None) -> np.ndarray:
    """Pre-projection features of the frozen text tower."""
    tower = TextTower(model)
    chunks = []
    with progress_bar(len(texts), "texts", "text", progress) as bar, torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            tokens = tokenize(tokenizer, texts[start:start + batch_size]).to(device)
            chunks.append(tower.features(tokens).float().cpu().numpy())
            bar.update(len(tokens))
    return np.concatenate(chunks)


def load_or_compute(built, pairs, data_hash: str, work: Path, device: str, text_cached: bool, batch_size: int = 64,
                    progress: bool | None = None) -> Features:
    """Features of every pair, from ``work``'s cache when it matches, else computed and cached."""
    key = cache_key(built.checksum, data_hash, built.size, text_cached)
    folder = work / f"features-{key}"
    names = ["image", "colour", "ok"] + (["text"] if text_cached else [])
    cached = _read_cache(folder, names, len(pairs))
    if cached is not None:
        return cached
    image, colour, ok = image_features(built, pairs.images, device, batch_size, progress)
    text = text_features(built.model.to(device), built.tokenizer, pairs.texts, device, progress=progress) if text_cached else None
    with artifacts.write_folder(folder) as tmp:
        for name, array in zip(names, (image, colour, ok, text)):
            np.save(tmp / f"{name}.npy", array)
        artifacts.write_manifest(tmp, {**artifacts.header(CACHE), "key": key, "pairs": len(pairs)})
    return Features(image, colour, ok, text)


def _read_cache(folder: Path, names: list[str], pairs: int) -> Features | None:
    """The cached features in ``folder`` when it is complete and holds ``pairs`` rows of each."""
    try:
        manifest = artifacts.read_manifest(folder, CACHE, verify="size")
    except AlignError:
        return None  # absent, from another rtag, or damaged: computed again
    if manifest.get("pairs") != pairs or any(f"{n}.npy" not in manifest["files"] for n in names):
        return None
    arrays = {n: np.load(folder / f"{n}.npy") for n in names}
    return Features(arrays["image"], arrays["colour"], arrays["ok"], arrays.get("text"))
