"""``rtag align``: train a shared image-text space on a catalog's photos and titles."""

from __future__ import annotations

from pathlib import Path

import typer

from retrieval_tagger.align.options import BASE, IMAGE_BATCH, AlignOptions
from retrieval_tagger.cli import common

DEFAULTS = AlignOptions()


@common.with_options(common.COLUMNS, common.STRICT, {"device": common.MODELS["device"]})
def align(
    catalog: Path = typer.Argument(..., help="Catalog file with text and image columns: .csv, .tsv, .jsonl or .parquet."),
    output: Path = typer.Option(..., "--output", "-o", help="Model folder to write; pass it later as --image-model."),
    base: str = typer.Option(BASE, "--base", help="Image model to start from: rtag-lite[@SIZE], ARCH:TAG, ARCH:/path/ckpt or a model folder."),
    epochs: int = typer.Option(DEFAULTS.epochs, "--epochs", help="Epochs of the cosine learning-rate schedule; training stops earlier when validation recall stops improving."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, "--batch-size", help="Pairs per contrastive batch (more negatives help, to a point)."),
    lr: float = typer.Option(DEFAULTS.lr, "--lr", help="Learning rate of the projection heads."),
    unlock_text_layers: int = typer.Option(DEFAULTS.unlocked_text_layers, "--unlock-text-layers", help="Also train this many top text-tower layers (slower; 0 keeps the tower frozen)."),
    text_projection: bool = typer.Option(DEFAULTS.text_projection, "--train-text-projection/--frozen-text-projection", help="Also train the text projection (by default the text space stays as the text model made it, so tag names keep their meaning)."),
    image_head: str = typer.Option(DEFAULTS.image_head, "--image-head", help="rtag-lite's image projection: linear or mlp."),
    colour: bool = typer.Option(DEFAULTS.colour, "--colour/--no-colour", help="Train a colour head on the photo's colour histogram."),
    colour_lr: float = typer.Option(DEFAULTS.colour_lr, "--colour-lr", help="Learning rate of the colour head."),
    val_fraction: float = typer.Option(DEFAULTS.val_fraction, "--val-fraction", help="Share of pairs held out for validation recall."),
    patience: int = typer.Option(DEFAULTS.patience, "--patience", help="Stop after this many epochs without better validation recall."),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", help="Random seed; equal seeds give equal models."),
    image_batch: int = typer.Option(IMAGE_BATCH, "--image-batch", help="Images per batch when computing the frozen features."),
    force: bool = typer.Option(False, "--force", help="Replace an existing model folder."),
    restart: bool = typer.Option(False, "--restart", help="Ignore the checkpoint of an interrupted run instead of resuming it."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Keep the frozen features here, to train variants without computing them again [default: in the model folder, removed when done]."),
    **options,
) -> None:
    """Train an image-text space on the catalog's image-title pairs (never its tags).

    The image trunk stays frozen (its features are computed once and cached); the
    projection heads, a colour head and the temperature learn by CLIP's contrastive
    loss. Prints validation recall of the model before and after.
    """
    from retrieval_tagger.align.train import align as run_align

    spec = common.catalog_spec(options)
    opts = AlignOptions.from_kwargs(
        epochs=epochs, batch_size=batch_size, lr=lr, unlocked_text_layers=unlock_text_layers, colour=colour,
        text_projection=text_projection, image_head=image_head, colour_lr=colour_lr,
        val_fraction=val_fraction, patience=patience, seed=seed,
    )
    man = run_align(catalog, output, spec, base, opts, force=force, restart=restart, device=options["device"], batch_size=image_batch, cache_dir=cache_dir)
    typer.echo(format_summary(man, output))


def format_summary(man: dict, output) -> str:
    training = man["training"]
    before, best = training["unaligned"], training["best"]
    lines = [
        f"aligned model written to {output}: {training['train_pairs']} training pairs, {training['val_pairs']} held out; "
        f"{training['epochs_run']} epochs in {training['seconds']:.0f}s, best epoch {training['best_epoch']}",
        f"{'validation recall':<20}{'image->text @1':>16}{'@10':>8}{'text->image @1':>17}{'@10':>8}",
    ]
    for label, m in (("before (unaligned)", before), ("after", best)):
        lines.append(f"{label:<20}{m['i2t_r1']:>16.4f}{m['i2t_r10']:>8.4f}{m['t2i_r1']:>17.4f}{m['t2i_r10']:>8.4f}")
    lines.append(f"use it with: rtag index CATALOG --name NAME --image-model {output}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("align")(align)
