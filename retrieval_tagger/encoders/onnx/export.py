"""Export a sentence-transformers model to ONNX with int8 matrix products, once per model.

The transformer is exported with torch's ONNX exporter, with the pooling inside the graph;
its products with constant weight matrices are then quantised by quantise.py: 7-bit
weights per output column, activations scaled per row (per token) at run time, so that a
text's embedding does not depend on the other texts of its batch or on the padding.
Tokenisation stays in Python (text.py). Measured with all-MiniLM-L6-v2 on the fashion
titles (benchmarks/README.md): cosine 0.9964 to the float32 embeddings on average, the dev
facet accuracy of float32, 2.5-3.3x the titles/s of torch float32 on 2 CPU cores. Exports
are cached by the weights' checksum (cache.py), with the fast tokenizer and its
settings, so that text.py can encode from the export alone.

Image towers are exported here too, in float32 (see image.py), with their preprocessing.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from retrieval_tagger.encoders.onnx import cache as onnx_cache
from retrieval_tagger.encoders.onnx import image as onnx_image
from retrieval_tagger.encoders.onnx import quantise
from retrieval_tagger.encoders.onnx import text as onnx_text
from retrieval_tagger.errors import EncoderError

POOLING_MODES = ("mean", "cls", "max")


def pipeline_parts(st_model) -> tuple[object, str, int]:
    """The Hugging Face transformer, pooling mode and maximum length of a
    sentence-transformers model made of Transformer + Pooling (+ Normalize) modules.

    Raises EncoderError for other pipelines (dense layers, custom modules), which the
    ONNX path does not reproduce.
    """
    modules = list(st_model)
    names = [type(m).__name__ for m in modules]
    if len(modules) < 2 or names[0] != "Transformer" or names[1] != "Pooling" or any(n != "Normalize" for n in names[2:]):
        raise EncoderError(f"the ONNX text backend handles Transformer + Pooling (+ Normalize) models, not {' + '.join(names)}: use --text-backend torch")
    pooling = modules[1]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None:  # older sentence-transformers keep one flag per mode
        flags = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens"}
        mode = [m for m, flag in flags.items() if getattr(pooling, flag, False)]
        mode = mode[0] if len(mode) == 1 else "+".join(mode) or "none"
    if mode not in POOLING_MODES:
        raise EncoderError(f"the ONNX text backend supports {', '.join(POOLING_MODES)} pooling, not {mode!r}: use --text-backend torch")
    return modules[0].auto_model, mode, int(st_model.max_seq_length or 512)


def cached_export(st_model, checksum: str) -> tuple[Path, dict]:
    """The folder holding the int8 ONNX export of ``st_model`` (whose weights have
    ``checksum``), exporting it first if the cache has none, and its manifest."""
    pipeline_parts(st_model)  # refuse unsupported pipelines before any work
    return onnx_cache.cached("onnx-text", onnx_text.export_key(checksum), onnx_text.FORMAT, onnx_text.FORMAT_VERSION,
                             lambda folder: export_int8(st_model, checksum, folder), "the text model (int8)")


def export_int8(st_model, checksum: str, folder: Path) -> dict:
    """Write ``model.onnx`` (int8 products, see quantise.py) into ``folder``; return the
    manifest's fields."""
    transformer, pooling, max_length = pipeline_parts(st_model)
    tokenizer = st_model.tokenizer
    inputs = [name for name in tokenizer.model_input_names if name in ("input_ids", "attention_mask", "token_type_ids")]
    sample = tokenizer(["a short title", "a somewhat longer product title to export"], padding=True, return_tensors="pt")
    float_path = folder / "model-float.onnx"
    wrapper = _Pooled(transformer, inputs, pooling).eval()
    axes = {**{name: {0: "batch", 1: "tokens"} for name in inputs}, "embedding": {0: "batch"}}
    # plain (eager) attention exports to a smaller graph than torch's fused kernels:
    # 10-15% faster under ONNX Runtime, same results
    before = getattr(transformer.config, "_attn_implementation", None)
    switch = before not in (None, "eager") and hasattr(transformer, "set_attn_implementation")
    if switch:
        transformer.set_attn_implementation("eager")
    try:
        export(wrapper, tuple(sample[name] for name in inputs), float_path, inputs, ["embedding"], axes, "text")
    finally:
        if switch:
            transformer.set_attn_implementation(before)
    quantise.quantise_file(float_path, folder / onnx_cache.MODEL_FILE)
    float_path.unlink()
    return {
        "source_checksum": checksum,
        "quantisation": quantise.DESCRIPTION,
        "pooling": pooling,
        "max_length": max_length,
        "inputs": inputs,
        "tokenizer": save_tokenizer(tokenizer, max_length, folder),
        "dim": int((getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension)()),
        "versions": onnx_cache.versions(),
    }


def save_tokenizer(tokenizer, max_length: int, folder: Path) -> dict | None:
    """Save the Hugging Face fast tokenizer behind ``tokenizer`` (a transformers tokenizer)
    into ``folder`` with the settings its call ``tokenizer(texts, padding=True,
    truncation=True, max_length=max_length)`` applies; return them for the manifest.
    None for a tokenizer without a fast backend or a padding token: such exports are
    tokenised by the model's own tokenizer (see model_tokenizer)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or tokenizer.pad_token is None:
        return None
    (folder / onnx_text.TOKENIZER_FILE).write_text(backend.to_str(), encoding="utf-8")
    return {
        "file": onnx_text.TOKENIZER_FILE,
        "max_length": int(max_length),
        "truncation": {"strategy": "longest_first", "direction": tokenizer.truncation_side, "stride": 0},
        "padding": {"direction": tokenizer.padding_side, "pad_id": int(tokenizer.pad_token_id), "pad_token": tokenizer.pad_token,
                    "pad_type_id": int(tokenizer.pad_token_type_id)},
        "split_special_tokens": bool(getattr(tokenizer, "split_special_tokens", False)),
    }


def model_tokenizer(st_model, max_length: int, inputs: list[str]):
    """``tokenize(texts)`` with the sentence-transformers model's own tokenizer, for
    exports that carry none."""
    def tokenize(texts: list[str]) -> dict:
        tokens = st_model.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
        return {name: tokens[name].astype(np.int64) for name in inputs}

    return tokenize


def export(module: torch.nn.Module, sample: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict, what: str) -> None:
    """torch's ONNX export (the TorchScript exporter, which needs no extra package), with
    one clear error when it fails."""
    try:
        # traced with gradients on: without them nn.MultiheadAttention takes a fused fast
        # path that the exporter does not know
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shapes that the dynamic axes cover
            torch.onnx.export(module, sample, str(path), input_names=inputs, output_names=outputs, dynamic_axes=axes,
                              opset_version=17, dynamo=False)
    except Exception as exc:  # the exporter raises many types; the user only needs to know it failed
        raise EncoderError(f"cannot export the {what} model to ONNX ({type(exc).__name__}: {exc}): use --{what}-backend torch") from exc


class _Pooled(torch.nn.Module):
    """The transformer and its pooling (mean, cls or max over the attended tokens), from
    inputs given in a fixed order: one embedding per text leaves the graph."""

    def __init__(self, transformer, inputs: list[str], pooling: str):
        super().__init__()
        self.transformer = transformer
        self.inputs = inputs
        self.pooling = pooling

    def forward(self, *tensors):
        named = dict(zip(self.inputs, tensors))
        hidden = self.transformer(**named).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "max":
            return hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
        # the sum over tokens as a product per text (mask row x tokens): ONNX Runtime's
        # ReduceSum adds in an order that depends on the batch size (1e-7 differences)
        summed = torch.matmul(mask.transpose(1, 2), hidden).squeeze(1)
        return summed / mask.sum(dim=1).clamp(min=1e-9)


def cached_image_export(encoder) -> tuple[Path, dict]:
    """The folder holding the float32 ONNX export of a torch image encoder's tower
    (encoders/image.py), exporting it first if the cache has none, and its manifest."""
    return onnx_cache.cached("onnx-image", onnx_image.export_key(encoder.checksum, encoder.size), onnx_image.FORMAT,
                             onnx_image.FORMAT_VERSION, lambda folder: _export_image(encoder, folder), "the image model")


class _Visual(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return self.model.encode_image(pixels)


def _export_image(encoder, folder: Path) -> dict:
    """Write the tower's ``model.onnx`` and the colour head into ``folder``; return the
    manifest's fields: what onnx/image.py needs to encode photos without the model."""
    sample = torch.zeros(2, 3, encoder.size, encoder.size)
    wrapper = _Visual(encoder.model).eval().float()
    with torch.inference_mode():
        dim = int(wrapper(sample).shape[-1])
    export(wrapper, (sample,), folder / onnx_cache.MODEL_FILE, ["pixels"], ["embedding"],
           {"pixels": {0: "batch"}, "embedding": {0: "batch"}}, "image")
    colour_file = None
    if encoder.colour_head is not None:
        from safetensors.numpy import save_file

        colour_file = onnx_image.COLOUR_FILE
        save_file({"weight": encoder.colour_head.detach().float().cpu().numpy()}, str(folder / colour_file))
    return {"source_checksum": encoder.checksum, "size": encoder.size, "dim": dim, "precision": "float32",
            "mean": list(encoder.mean), "std": list(encoder.std), "resize": "pad to a white square, bicubic",
            "colour_head": colour_file, "text_space": bool(encoder.text_space), "versions": onnx_cache.versions()}
