"""Which parts of an open_clip model are frozen during alignment and which are trained.

Each tower is split into a frozen feature extractor and a trainable head, such that
``head(features(x))`` is exactly what the model computes. Frozen features are computed
once and cached (LiT: "locked-image tuning"), so training touches only the heads:

- image, timm trunk (``rtag-lite``): trunk frozen, ``visual.head`` (projection) trained;
- image, open_clip ViT: everything up to ``visual.proj`` frozen, ``visual.proj`` trained;
- image, other towers (e.g. ModifiedResNet): fully frozen;
- text: the projection is trained; with ``unlocked_layers`` > 0 the top transformer layers
  are trained too, and text features are then recomputed every step.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def _swapped(owner: nn.Module, name: str, value):
    saved = getattr(owner, name)
    # nn.Module refuses to replace a registered Parameter with None through setattr
    if isinstance(saved, nn.Parameter):
        del owner._parameters[name]
        owner.__dict__[name] = value
    else:
        setattr(owner, name, value)
    try:
        yield
    finally:
        if isinstance(saved, nn.Parameter):
            owner.__dict__.pop(name, None)
            owner._parameters[name] = saved
        else:
            setattr(owner, name, saved)


class ImageTower:
    """The image side of an open_clip model, split at its projection."""

    def __init__(self, model: nn.Module):
        self.visual = model.visual
        if hasattr(self.visual, "trunk") and hasattr(self.visual, "head"):
            self.kind = "timm"
        elif isinstance(getattr(self.visual, "proj", None), nn.Parameter):
            self.kind = "proj"
        else:
            self.kind = "locked"

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Output of the frozen part."""
        if self.kind == "timm":
            return self.visual.trunk(pixels)
        if self.kind == "proj":
            with _swapped(self.visual, "proj", None):
                return self.visual(pixels)
        return self.visual(pixels)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """The trainable part, applied to cached features."""
        if self.kind == "timm":
            return self.visual.head(features)
        if self.kind == "proj":
            return features @ self.visual.proj
        return features

    def parameters(self) -> list[nn.Parameter]:
        if self.kind == "timm":
            return list(self.visual.head.parameters())
        if self.kind == "proj":
            return [self.visual.proj]
        return []


class TextTower:
    """The text side of an open_clip model (built-in transformer or Hugging Face tower)."""

    def __init__(self, model: nn.Module, unlocked_layers: int = 0, projection: bool = True):
        self.model = model
        self.hf = hasattr(model, "text") and hasattr(model.text, "proj")
        self.unlocked_layers = int(unlocked_layers)
        self.projection = projection

    def set_trainable(self) -> None:
        """Freeze the tower except the unlocked top layers and (if asked) the projection."""
        for p in self._tower_parameters():
            p.requires_grad_(False)
        if self.unlocked_layers:
            self._unlock_top(self.unlocked_layers)
        for p in self.projection_parameters():
            p.requires_grad_(self.projection)

    def _owner_and_name(self) -> tuple[nn.Module, str]:
        return (self.model.text, "proj") if self.hf else (self.model, "text_projection")

    def _tower_parameters(self) -> list[nn.Parameter]:
        if self.hf:
            return list(self.model.text.parameters())
        visual = {id(p) for p in self.model.visual.parameters()}
        return [p for name, p in self.model.named_parameters() if id(p) not in visual and name != "logit_scale" and name != "logit_bias"]

    def _unlock_top(self, n: int) -> None:
        if self.hf:
            encoder = getattr(self.model.text.transformer, "encoder", None)
            layers = getattr(encoder, "layer", None)
        else:
            layers = getattr(self.model.transformer, "resblocks", None)
        if layers is None:
            raise ValueError("this text tower has no layer list to unlock; use unlocked_layers=0")
        if n > len(layers):
            raise ValueError(f"the text tower has {len(layers)} layers; cannot unlock {n}")
        for layer in list(layers)[-n:]:
            for p in layer.parameters():
                p.requires_grad_(True)

    def projection_parameters(self) -> list[nn.Parameter]:
        owner, name = self._owner_and_name()
        proj = getattr(owner, name)
        if proj is None:
            return []
        return [proj] if isinstance(proj, nn.Parameter) else list(proj.parameters())

    def parameters(self) -> list[nn.Parameter]:
        seen, out = set(), []
        for p in self._tower_parameters() + self.projection_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
        return out

    @property
    def cacheable(self) -> bool:
        """With no transformer layer trained, pre-projection features can be cached."""
        return self.unlocked_layers == 0

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Pre-projection text features (frozen when ``cacheable``)."""
        owner, name = self._owner_and_name()
        proj = getattr(owner, name)
        replacement = nn.Identity() if isinstance(proj, nn.Module) else None
        with _swapped(owner, name, replacement):
            return self.model.encode_text(tokens)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        owner, name = self._owner_and_name()
        proj = getattr(owner, name)
        if proj is None:
            return features
        if isinstance(proj, nn.Module):
            return proj(features)
        return features @ proj

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Full forward (used when top layers are trained)."""
        return self.model.encode_text(tokens)
