"""How ``rtag align`` trains: its options and their defaults, importable without torch so
that the command line shows the library's own defaults without loading a model."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval_tagger.errors import AlignError

BASE = "rtag-lite"  # the image model alignment starts from
IMAGE_BATCH = 64  # images per batch while the frozen features are computed


@dataclass
class AlignOptions:
    """How ``rtag align`` trains. Unknown names are refused with the valid list."""

    # defaults measured on the fashion catalog's validation pairs (benchmarks/align_recipes.py):
    # 12 epochs of a cosine schedule beat 30-40 for zero-shot (longer runs learn titles'
    # brand names, not the concepts tag names share); a frozen text projection keeps tag
    # names where the text model put them (image-only articleType 0.62 vs 0.56)
    epochs: int = 12
    batch_size: int = 1024
    lr: float = 1e-3
    text_lr: float = 1e-5  # for unlocked text layers
    # the colour head starts at zero and learns slowly at the heads' rate; 10x lifted
    # image-only baseColour on the catalog's validation pairs from 0.440 to 0.482 (dev:
    # 0.439 to 0.473) and left articleType as it was
    colour_lr: float | None = 1e-2
    weight_decay: float = 0.1
    warmup_steps: int = 50
    unlocked_text_layers: int = 0
    text_projection: bool = False  # train the text projection too (False keeps the text space as it is)
    image_head: str = "linear"  # rtag-lite's image projection: linear or mlp
    colour: bool = True
    val_fraction: float = 0.05
    patience: int = 3
    seed: int = 0

    @classmethod
    def from_kwargs(cls, **kwargs) -> "AlignOptions":
        unknown = sorted(set(kwargs) - set(cls.__dataclass_fields__))
        if unknown:
            raise AlignError(f"unknown align option(s) {', '.join(unknown)}; valid: {', '.join(sorted(cls.__dataclass_fields__))}")
        opts = cls(**kwargs)
        for name in ("epochs", "batch_size", "patience"):
            if getattr(opts, name) < 1:
                raise AlignError(f"{name} must be at least 1, got {getattr(opts, name)}")
        if not 0 < opts.val_fraction < 0.5:
            raise AlignError(f"val_fraction must be between 0 and 0.5, got {opts.val_fraction}")
        if opts.image_head not in ("linear", "mlp"):
            raise AlignError(f"image_head must be linear or mlp, got {opts.image_head!r}")
        if opts.lr <= 0 or opts.text_lr <= 0 or opts.unlocked_text_layers < 0:
            raise AlignError("lr and text_lr must be positive and unlocked_text_layers non-negative")
        return opts
