"""Contrastive alignment of an open_clip model's heads on a catalog's image-title pairs.

CLIP's symmetric InfoNCE (open_clip's ``ClipLoss``) over cached frozen features; the
projection heads, an optional colour head and the temperature are trained (and, if asked,
the top text layers). Each epoch ends with image->text and text->image recall on the
held-out pairs, a checkpoint to resume from, and early stopping on their mean.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from retrieval_tagger.align import checkpoint
from retrieval_tagger.align.features import Features, load_or_compute, tokenize
from retrieval_tagger.align.options import BASE, IMAGE_BATCH, AlignOptions
from retrieval_tagger.align.pairs import Pairs, data_sha256, read_pairs
from retrieval_tagger.align.recall import retrieval_recall
from retrieval_tagger.align.towers import ImageTower, TextTower
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.encoders import colour
from retrieval_tagger.encoders.base import pick_device
from retrieval_tagger.errors import AlignError
from retrieval_tagger.progress import progress_bar

log = logging.getLogger("rtag.align")
WORK = ".rtag-align"
MAX_LOGIT_SCALE = math.log(100.0)


def starting_model(base: str, opts: AlignOptions):
    """The base model to train, and the one whose frozen features are cached."""
    from retrieval_tagger.encoders.registry import build_clip_model

    built = build_clip_model(base)
    if base == "rtag-lite" or base.startswith("rtag-lite@"):
        from dataclasses import replace

        from retrieval_tagger.encoders.lite import build_lite_for_alignment

        model, config = build_lite_for_alignment(built.size, opts.seed, opts.image_head)
        return built, replace(built, model=model, config=config)
    return built, built


class Aligner:
    """The trainable parts over one model, and their forward passes on cached features."""

    def __init__(self, model: nn.Module, opts: AlignOptions, device: str):
        self.model = model.to(device).eval()
        self.device = device
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.image = ImageTower(self.model)
        self.text = TextTower(self.model, opts.unlocked_text_layers, opts.text_projection)
        self.text.set_trainable()
        for p in self.image.parameters():
            p.requires_grad_(True)
        self.model.logit_scale.requires_grad_(True)
        self.colour = None
        if opts.colour:
            embed = self._embed_dim()
            self.colour = nn.Linear(colour.DIM, embed, bias=False).to(device)
            nn.init.zeros_(self.colour.weight)  # starts as the base model
        self.opts = opts

    def _embed_dim(self) -> int:
        with torch.no_grad():
            feats = torch.zeros(1, self._image_feature_dim(), device=self.device)
            return int(self.image.head(feats).shape[-1])

    def _image_feature_dim(self) -> int:
        if self.image.kind == "timm":
            return int(self.model.visual.trunk.num_features)
        if self.image.kind == "proj":
            return int(self.model.visual.proj.shape[0])
        return int(self.model.visual.output_dim)

    def named_trainable(self) -> dict[str, nn.Parameter]:
        params = {f"model.{n}": p for n, p in self.model.named_parameters() if p.requires_grad}
        if self.colour is not None:
            params["colour.weight"] = self.colour.weight
        return params

    def optimizer(self) -> torch.optim.Optimizer:
        heads, text_layers, scale, colour_params = [], [], [], []
        text_proj = {id(p) for p in self.text.projection_parameters()}
        text_all = {id(p) for p in self.text.parameters()}
        for name, p in self.named_trainable().items():
            if name == "model.logit_scale":
                scale.append(p)
            elif name.startswith("colour."):
                colour_params.append(p)
            elif id(p) in text_all and id(p) not in text_proj:
                text_layers.append(p)
            else:
                heads.append(p)
        groups = [
            {"params": heads, "lr": self.opts.lr, "weight_decay": self.opts.weight_decay, "base_lr": self.opts.lr},
            {"params": scale, "lr": self.opts.lr, "weight_decay": 0.0, "base_lr": self.opts.lr},
        ]
        if colour_params:
            lr = self.opts.colour_lr or self.opts.lr  # None: the heads' rate
            groups.append({"params": colour_params, "lr": lr, "weight_decay": self.opts.weight_decay, "base_lr": lr})
        if text_layers:
            groups.append({"params": text_layers, "lr": self.opts.text_lr, "weight_decay": self.opts.weight_decay, "base_lr": self.opts.text_lr})
        return torch.optim.AdamW(groups, betas=(0.9, 0.98), eps=1e-6)

    def embed_images(self, feats: torch.Tensor, hists: torch.Tensor) -> torch.Tensor:
        out = self.image.head(feats)
        if self.colour is not None:
            out = out + self.colour(hists)
        return nn.functional.normalize(out.float(), dim=-1)

    def embed_texts(self, text_input: torch.Tensor) -> torch.Tensor:
        out = self.text.head(text_input) if self.text.cacheable else self.text.encode(text_input)
        return nn.functional.normalize(out.float(), dim=-1)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _text_inputs(aligner: Aligner, feats: Features, pairs: Pairs, tokenizer) -> torch.Tensor:
    if aligner.text.cacheable:
        return torch.from_numpy(feats.text)
    return tokenize(tokenizer, pairs.texts)


def _evaluate(aligner: Aligner, img: torch.Tensor, hists: torch.Tensor, text_input: torch.Tensor, texts: list[str]) -> dict:
    with torch.no_grad():
        image_vecs, text_vecs = [], []
        for start in range(0, len(img), 1024):
            image_vecs.append(aligner.embed_images(img[start:start + 1024].to(aligner.device), hists[start:start + 1024].to(aligner.device)))
            text_vecs.append(aligner.embed_texts(text_input[start:start + 1024].to(aligner.device)))
    return retrieval_recall(torch.cat(image_vecs).cpu().numpy(), torch.cat(text_vecs).cpu().numpy(), texts)


def _autocast(device: str):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _train_epoch(aligner: Aligner, optimizer, loss_fn, img, hists, text_input, epoch: int, step: int, total_steps: int, opts: AlignOptions) -> tuple[float, int]:
    gen = torch.Generator().manual_seed(opts.seed * 1_000_003 + epoch)
    order = torch.randperm(len(img), generator=gen)
    losses = []
    # a last batch much smaller than the others gives InfoNCE too few negatives
    n_batches = max(1, len(order) // opts.batch_size)
    for b in range(n_batches):
        idx = order[b * opts.batch_size:(b + 1) * opts.batch_size] if b < n_batches - 1 else order[b * opts.batch_size:]
        factor = _lr_factor(step, total_steps, opts.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        with _autocast(aligner.device):
            image_vecs = aligner.embed_images(img[idx].to(aligner.device), hists[idx].to(aligner.device))
            text_vecs = aligner.embed_texts(text_input[idx].to(aligner.device))
            loss = loss_fn(image_vecs, text_vecs, aligner.model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            aligner.model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        losses.append(loss.item())
        step += 1
    return float(np.mean(losses)), step


def align(catalog: str | Path, output: str | Path, spec: CatalogSpec | None = None, base: str = BASE,
          options: AlignOptions | None = None, force: bool = False, restart: bool = False, device: str | None = None,
          batch_size: int = IMAGE_BATCH, progress: bool | None = None, cache_dir: str | Path | None = None) -> dict:
    """Train an aligned image-text model on ``catalog`` and write it to the folder ``output``.

    Returns the model folder's manifest. An interrupted run resumes from its last
    checkpoint when called again with the same data and options (``restart`` ignores it).
    Frozen features are cached in the model folder's work area and removed with it, or
    kept in ``cache_dir`` to train several variants on the same catalog.
    """
    from open_clip.loss import ClipLoss

    from retrieval_tagger.encoders import model_dir

    opts = options or AlignOptions()
    out = Path(output)
    model_dir.check_writable(out, force)
    started = time.perf_counter()
    device = pick_device(device)
    pairs, report, skipped = read_pairs(catalog, spec, opts.val_fraction)
    data_hash = data_sha256(pairs)
    torch.manual_seed(opts.seed)
    feature_model, built = starting_model(base, opts)
    work = out / WORK
    work.mkdir(parents=True, exist_ok=True)
    aligner = Aligner(built.model, opts, device)
    cache = Path(cache_dir) if cache_dir else work
    feats = load_or_compute(feature_model, pairs, data_hash, cache, device, aligner.text.cacheable, batch_size, progress)
    del feature_model
    usable = feats.ok
    if int(usable.sum()) < len(pairs):
        log.warning("%d of %d images could not be decoded; their pairs are left out", len(pairs) - int(usable.sum()), len(pairs))
    train_rows = np.flatnonzero(usable & ~pairs.val)
    val_rows = np.flatnonzero(usable & pairs.val)
    if len(train_rows) < 2 or len(val_rows) < 1:
        raise AlignError(f"too few decodable pairs to train ({len(train_rows)}) and validate ({len(val_rows)})")
    img = torch.from_numpy(feats.image)
    hists = torch.from_numpy(feats.colour)
    text_input = _text_inputs(aligner, feats, pairs, built.tokenizer)
    val_texts = [pairs.texts[i] for i in val_rows]
    optimizer = aligner.optimizer()
    loss_fn = ClipLoss()
    steps_per_epoch = max(1, len(train_rows) // opts.batch_size)
    total_steps = steps_per_epoch * opts.epochs
    # the starting model follows from the base's weights and the options (seed, image head)
    fingerprint = {"base_checksum": built.checksum, "data_sha256": data_hash, "options": asdict(opts)}

    state = None if restart else checkpoint.load(work, fingerprint, aligner, optimizer)
    state = state or checkpoint.fresh(_evaluate(aligner, img[val_rows], hists[val_rows], text_input[val_rows], val_texts))
    # every epoch takes long enough to be worth a bar (min_items=1)
    bar = progress_bar(opts.epochs, "align", "epoch", progress, initial=state["epoch"], min_items=1)
    train_img, train_hists, train_text = img[train_rows], hists[train_rows], text_input[train_rows]
    while state["epoch"] < opts.epochs and state["since_best"] < opts.patience:
        epoch = state["epoch"]
        t = time.perf_counter()
        loss, state["step"] = _train_epoch(aligner, optimizer, loss_fn, train_img, train_hists, train_text, epoch, state["step"], total_steps, opts)
        metrics = _evaluate(aligner, img[val_rows], hists[val_rows], text_input[val_rows], val_texts)
        metrics.update(epoch=epoch + 1, loss=round(loss, 5), seconds=round(time.perf_counter() - t, 2),
                       temperature=round(1 / aligner.model.logit_scale.exp().item(), 5))
        checkpoint.advance(state, metrics, aligner)
        checkpoint.save(work, fingerprint, state, aligner, optimizer)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", r1=f"{metrics['mean_r1']:.3f}", r10=f"{metrics['mean_r10']:.3f}")
    bar.close()
    checkpoint.restore_best(work, aligner)
    training = {
        "catalog": str(Path(catalog).resolve()),
        "data_sha256": data_hash,
        "pairs": len(pairs),
        "train_pairs": int(len(train_rows)),
        "val_pairs": int(len(val_rows)),
        "skipped_products": skipped,
        "catalog_report": report.summary(),
        "options": asdict(opts),
        "device": device,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "stopped_early": state["epoch"] < opts.epochs,
        "unaligned": state["history"][0],
        "best": state["best"],
        "history": state["history"][1:],
        "seconds": round(time.perf_counter() - started, 1),
    }
    colour_weight = aligner.colour.weight.detach().cpu() if aligner.colour is not None else None
    result = model_dir.save_model_dir(out, built, aligner.model.cpu(), colour_weight, base, training)
    checkpoint.clear(work)
    return result

