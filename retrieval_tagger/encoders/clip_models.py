"""open_clip models as image specs name them: rtag-lite and open_clip architectures with
their weights, built unfolded and in float32 on the CPU, with what belongs to them
(tokenizer, preprocessing, weights checksum, config). Aligned model folders are built by
model_dir.py; registry.py says which spec goes where."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from retrieval_tagger.errors import EncoderError

CONFIG_DIR = Path(__file__).parent / "model_configs"


@functools.lru_cache(maxsize=1)
def register_configs() -> None:
    """Make rtag's own architectures (model_configs/, e.g. rtag-tiny) known to open_clip."""
    import open_clip

    open_clip.add_model_config(CONFIG_DIR)


@functools.lru_cache(maxsize=None)
def clip_tokenizer(arch: str):
    """open_clip's tokenizer of ``arch``, built once per process: building one reads and
    parses its BPE merges (about 0.1 s), and what it keeps (a cache of BPE results) never
    changes its output."""
    import open_clip

    register_configs()
    return open_clip.get_tokenizer(arch)


@dataclass
class ClipModel:
    """An open_clip model as built from a spec, unfolded and in float32 on the CPU, with
    what belongs to it: tokenizer, preprocessing, weights checksum and model config."""

    spec: str
    model: object
    tokenizer: object
    size: int
    mean: tuple
    std: tuple
    checksum: str
    config: dict
    colour_head: object = None  # aligned models only: (embed_dim, colour.DIM) tensor
    tokenizer_name: str | None = None  # open_clip tokenizer name; None for Hugging Face text towers
    # whether texts and images share a trained space (False for rtag-lite before `rtag align`,
    # whose projections are placeholders: its text tower is only for image-image use)
    text_space: bool = True


def build_lite(spec: str) -> ClipModel:
    """``rtag-lite`` or ``rtag-lite@SIZE`` (see lite.py)."""
    from open_clip.tokenizer import HFTokenizer

    from retrieval_tagger.encoders import lite
    from retrieval_tagger.encoders.checksum import state_dict_sha256

    size = lite.DEFAULT_RESOLUTION
    if "@" in spec:
        try:
            size = int(spec.split("@", 1)[1])
        except ValueError as exc:
            raise EncoderError(f"image spec {spec!r}: expected rtag-lite@SIZE with SIZE in pixels, e.g. rtag-lite@160") from exc
        if not 32 <= size <= 1024:
            raise EncoderError(f"image spec {spec!r}: SIZE must be between 32 and 1024 pixels")
    model = lite.build_lite(size)
    config = lite.lite_config(size)
    tokenizer = HFTokenizer(lite.minilm_path(), context_length=config["text_cfg"]["context_length"])
    return ClipModel(spec, model, tokenizer, size, lite.MEAN, lite.STD, state_dict_sha256(model), config, text_space=False)


def build_open_clip(spec: str, offline: bool = False) -> ClipModel:
    """``ARCH:TAG`` (published weights), ``ARCH:/path/to/checkpoint`` or ``ARCH:random``.
    ``offline``: published weights from the local cache only (see hub.py)."""
    import open_clip
    import torch

    from retrieval_tagger.encoders import hub
    from retrieval_tagger.encoders.checksum import state_dict_sha256

    register_configs()
    arch, _, weights = spec.partition(":")
    if arch not in open_clip.list_models():
        raise EncoderError(
            f"unknown image model {spec!r}: use rtag-lite, none, an aligned model folder, or ARCH:WEIGHTS with an open_clip "
            f"architecture such as ViT-B-32 (see open_clip.list_models())"
        )
    if not weights:
        tags = ", ".join(t for a, t in open_clip.list_pretrained() if a == arch) or "none published"
        raise EncoderError(f"image spec {spec!r} names no weights: use {arch}:TAG (published: {tags}) or {arch}:/path/to/checkpoint")
    pretrained = None if weights == "random" else weights
    config = open_clip.get_model_config(arch)
    published = bool(pretrained) and not ("/" in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors")))
    if pretrained and not published:
        if not Path(pretrained).is_file():
            raise EncoderError(f"image spec {spec!r}: checkpoint file not found: {pretrained}")
        pretrained = str(Path(pretrained).resolve())
    elif published and open_clip.get_pretrained_cfg(arch, pretrained).get("quick_gelu"):
        config["quick_gelu"] = True
    import pickle

    from safetensors import SafetensorError

    try:
        # random weights are seeded so that the index and its queries see the same model
        with torch.random.fork_rng(), hub.offline(offline and published):
            torch.manual_seed(0)
            model = open_clip.create_model(arch, pretrained=pretrained, device="cpu")
    except (pickle.UnpicklingError, SafetensorError) as exc:
        # torch >= 2.6 and open_clip >= 2.28 load checkpoints with weights_only=True: a file
        # holding pickled objects other than tensors is refused, as is a damaged one
        raise EncoderError(f"cannot load image model {spec!r}: its checkpoint is damaged or holds more than weights "
                           f"({type(exc).__name__}); give a state dict saved with torch.save or a .safetensors file") from exc
    except (RuntimeError, OSError, KeyError, ValueError) as exc:
        if offline and published:
            raise hub.not_cached("image", spec, exc) from exc
        raise EncoderError(f"cannot load image model {spec!r}: {exc}") from exc
    model.eval()
    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg.get("size", 224)
    size = size[0] if isinstance(size, (tuple, list)) else size
    tokenizer = clip_tokenizer(arch)
    mean = tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
    std = tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD))
    return ClipModel(spec, model, tokenizer, int(size), mean, std, state_dict_sha256(model), config, tokenizer_name=arch)
