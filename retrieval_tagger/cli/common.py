"""Options shared by several commands, declared once; defaults come from the library
(tag_defaults, align.options), which imports nothing heavy, so --help stays fast."""

from __future__ import annotations

import functools
import inspect

import typer

from retrieval_tagger import tag_defaults
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.signals import registry


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


IdCol = typer.Option(None, "--id-col", help="Column with the product id [default: id].")
TextCols = typer.Option(None, "--text-cols", help="Comma-separated text columns, joined [default: title,description where present].")
ImageCol = typer.Option(None, "--image-col", help="Column with image paths, relative to the catalog file or absolute [default: image where present].")
TagsCol = typer.Option(None, "--tags-col", help="Column with a tag list: '|'-separated or a JSON array.")
FacetCols = typer.Option(None, "--facet-cols", help="Comma-separated columns; each becomes facet:value tags.")
TextBackend = typer.Option(
    None, "--text-backend",
    help="How the text model runs: auto (ONNX Runtime int8 on a CPU, torch float16 on a GPU), torch or onnx-int8 [default: $RTAG_TEXT_BACKEND or auto].",
)
ImageBackend = typer.Option(
    None, "--image-backend",
    help="How the image model runs: auto (ONNX Runtime on a CPU, torch float16 on a GPU), torch or onnx [default: $RTAG_IMAGE_BACKEND or auto].",
)
Strict = typer.Option(False, "--strict", help="Treat duplicate ids, empty rows and bad images as errors.")
Device = typer.Option(None, "--device", help="cpu or cuda [default: cuda when available].")
Index = typer.Option(..., "--index", "-i", help="Index name or folder.")

# tagging options of `rtag tag` and `rtag eval`
K = typer.Option(None, "-k", help="Neighbours per kNN signal [default: fitted by the index].")
Temperature = typer.Option(None, "--temperature", help="Softmax temperature of neighbour votes [default: fitted by the index].")
Rerank = typer.Option(True, "--rerank/--no-rerank", help="Use the index's trained reranker (rtag train-reranker) when it has one; --no-rerank ranks by fused votes.")
Diversity = typer.Option(
    None,
    "--diversity",
    help="MMR lambda in [0, 1]: 1 ranks tags by score alone; lower values prefer tags unlike those already chosen "
    f"(tag-name similarity blended with co-occurrence); the likeliest tag always comes first [default: {tag_defaults.DIVERSITY}, measured].",
)


Weights = typer.Option(
    None,
    "--weights",
    help=f"Fusion weights for every facet over the signals {', '.join(registry.names())}, e.g. text=0.6,image=0.3,mentions=0.1 "
    "(signals left out get 0) [default: fitted per facet by the index].",
)

# Groups of options that several commands take; a command lists the groups it takes in
# @with_options and receives their values as keyword arguments. name -> (type, option)
COLUMNS = {"id_col": (str, IdCol), "text_cols": (str, TextCols), "image_col": (str, ImageCol)}
TAG_COLUMNS = {"tags_col": (str, TagsCol), "facet_cols": (str, FacetCols)}
STRICT = {"strict": (bool, Strict)}
MODELS = {"device": (str, Device), "text_backend": (str, TextBackend), "image_backend": (str, ImageBackend)}
TAGGING = {"k": (int, K), "temperature": (float, Temperature), "weights": (str, Weights), "rerank": (bool, Rerank),
           "diversity": (float, Diversity)}


def with_options(*groups: dict):
    """Give a command the options of ``groups`` after its own: typer sees them in the
    command's signature, and the command takes them through ``**options``."""
    def wrap(command):
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind != p.VAR_KEYWORD]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
                 for group in groups for name, (kind, option) in group.items()]

        @functools.wraps(command)
        def run(**values):
            return command(**values)

        run.__signature__ = inspect.Signature([*own, *added])
        run.__annotations__ = {p.name: p.annotation for p in [*own, *added]}
        return run

    return wrap


def catalog_spec(options: dict) -> CatalogSpec:
    """The column mapping the user gave (COLUMNS, TAG_COLUMNS, STRICT options)."""
    return CatalogSpec(
        id_col=options.get("id_col"),
        text_cols=split_list(options.get("text_cols")) or None,
        image_col=options.get("image_col"),
        tags_col=options.get("tags_col"),
        facet_cols=split_list(options.get("facet_cols")),
        strict=bool(options.get("strict")),
    )


def column_overrides(options: dict) -> dict:
    """The COLUMNS (and TAG_COLUMNS) options the user set, to lay over an index's own mapping."""
    given = {"id_col": options.get("id_col"), "text_cols": split_list(options.get("text_cols")), "image_col": options.get("image_col"),
             "tags_col": options.get("tags_col"), "facet_cols": split_list(options.get("facet_cols"))}
    return {key: value for key, value in given.items() if value}


def model_options(options: dict) -> dict:
    """The MODELS options as Tagger.load keywords."""
    return {name: options.get(name) for name in MODELS}


def parse_weights(text: str | None) -> dict | None:
    from retrieval_tagger.errors import RtagError

    if not text:
        return None
    weights = {}
    for part in split_list(text):
        name, sep, value = part.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise RtagError(f"--weights takes name=number pairs separated by commas, got {part!r}")
    return weights


def tagging_options(options: dict, **extra) -> dict:
    """The TAGGING options the user set, as Tagger.tag keywords, with ``extra`` on top;
    unset ones keep what the index fitted (k, temperature, weights) or the library's
    default (diversity)."""
    given = {"k": options.get("k"), "temperature": options.get("temperature"), "weights": parse_weights(options.get("weights")),
             "rerank": options.get("rerank"), "diversity": options.get("diversity")}
    return {**{key: value for key, value in given.items() if value is not None}, **extra}
