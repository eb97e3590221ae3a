"""Options shared by several commands, declared once; defaults come from the library
(tag_defaults, align.options), which imports nothing heavy, so --help stays fast."""

from __future__ import annotations

import functools
import importlib.util
import inspect
from pathlib import Path

import typer

from retrieval_tagger import tag_defaults
from retrieval_tagger.catalog import CatalogSpec, detect_format
from retrieval_tagger.errors import CatalogError, RtagError
from retrieval_tagger.signals import registry


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


IdCol = typer.Option(None, "--id-col", help="Column with the product id [default: id].")
TextCols = typer.Option(None, "--text-cols", help="Comma-separated text columns, joined [default: title,description where present].")
ImageCol = typer.Option(None, "--image-col", help="Column with image paths, relative to the catalog file or absolute [default: image where present].")
TagsCol = typer.Option(None, "--tags-col", help="Column with a tag list: '|'-separated or a JSON array.")
FacetCols = typer.Option(None, "--facet-cols", help="Comma-separated columns; each becomes facet:value tags.")
ImageDir = typer.Option(None, "--image-dir", help="Folder that relative image paths (e.g. bare file names) lie in [default: the file's own folder].")
NoHeader = typer.Option(False, "--no-header", help="The CSV/TSV file has no header row: name its columns with --columns.")
Columns = typer.Option(None, "--columns", help="With --no-header: comma-separated names of the file's columns, in order.")
CategoryCol = typer.Option(
    None, "--category-col",
    help="Column with a category path per product (e.g. 'Toys > Puzzles > Jigsaws'): facets COL1..COLn (one per level) and COL "
    "(the full path), kept as a tree so tags come back as one consistent path.",
)
CategorySep = typer.Option(" > ", "--category-sep", help="What separates the nodes of a category path (spaces around it optional).")
CategoryDrop = typer.Option(None, "--category-drop", help="Regular expression: path nodes it matches in full are dropped (e.g. 'All Products|Home').")
CategoryDropLast = typer.Option(False, "--category-drop-last", help="Drop each path's last node (for paths that end with the product's own name).")
CategoryDepth = typer.Option(None, "--category-depth", min=1, help="Keep the first N levels of each path [default: all].")
AllowMissingImages = typer.Option(False, "--allow-missing-images", help="Build even when most photos named cannot be read (their products keep their text).")
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
# how an index is named, for every option that names one (index/location.py resolves it)
INDEX_NAMING = ("a name (a folder under $RTAG_INDEX_DIR, default ./indexes) or a folder path: "
                "anything with a slash is a path, taken as written (relative to the current folder)")
Index = typer.Option(..., "--index", "-i", help=f"The index: {INDEX_NAMING}.")

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
COLUMNS = {"id_col": (str, IdCol), "text_cols": (str, TextCols), "image_col": (str, ImageCol), "image_dir": (Path, ImageDir),
           "no_header": (bool, NoHeader), "columns": (str, Columns)}
TAG_COLUMNS = {"tags_col": (str, TagsCol), "facet_cols": (str, FacetCols)}
CATEGORY = {"category_col": (str, CategoryCol), "category_sep": (str, CategorySep), "category_drop": (str, CategoryDrop),
            "category_drop_last": (bool, CategoryDropLast), "category_depth": (int, CategoryDepth)}
STRICT = {"strict": (bool, Strict), "allow_missing_images": (bool, AllowMissingImages)}
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
    """The column mapping the user gave (COLUMNS, TAG_COLUMNS, CATEGORY, STRICT options)."""
    return CatalogSpec(
        **column_overrides(options),
        strict=bool(options.get("strict")),
        allow_missing_images=bool(options.get("allow_missing_images")),
        category_col=options.get("category_col"),
        category_sep=options.get("category_sep") or " > ",
        category_drop=options.get("category_drop"),
        category_drop_last=bool(options.get("category_drop_last")),
        category_depth=options.get("category_depth"),
    )


def column_overrides(options: dict) -> dict:
    """The COLUMNS (and TAG_COLUMNS) options the user set, to lay over an index's own mapping."""
    given = {"id_col": options.get("id_col"), "text_cols": split_list(options.get("text_cols")), "image_col": options.get("image_col"),
             "tags_col": options.get("tags_col"), "facet_cols": split_list(options.get("facet_cols")),
             "image_dir": str(options["image_dir"]) if options.get("image_dir") else None, "column_names": header_columns(options)}
    return {key: value for key, value in given.items() if value}


def header_columns(options: dict) -> list[str] | None:
    """The --columns of a file read with --no-header; None for a file with a header row."""
    names = split_list(options.get("columns"))
    if options.get("no_header") and not names:
        raise RtagError("--no-header needs --columns a,b,c: the names of the file's columns, in order")
    if names and not options.get("no_header"):
        raise RtagError("--columns names the columns of a file without a header row: pass --no-header too")
    return names or None


def model_options(options: dict) -> dict:
    """The MODELS options as Tagger.load keywords."""
    return {name: options.get(name) for name in MODELS}


def parse_weights(text: str | None) -> dict | None:
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


# -- cheap checks, run before any model loads (loading takes tens of seconds) ------------

def check_readable(path: Path, what: str) -> None:
    """Refuse a file that is missing, a folder, or unreadable, naming it."""
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise RtagError(f"{what} not found: {path}: check the path") from None
    except IsADirectoryError:
        raise RtagError(f"{what} {path} is a folder: give a file") from None
    except OSError as exc:
        raise RtagError(f"cannot read {what} {path} ({exc.strerror}): check its permissions") from None


def check_input_file(path: Path, what: str = "input file") -> None:
    """Refuse a product file rtag cannot read: missing, unreadable, of an unknown format,
    or Parquet without pyarrow."""
    check_readable(path, what)
    if detect_format(path) == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise CatalogError(f"reading Parquet ({path.name}) needs pyarrow: pip install 'retrieval-tagger[parquet]'")


def check_image(path: Path) -> None:
    """Refuse an image file that is missing, unreadable or not an image Pillow knows."""
    from PIL import Image, UnidentifiedImageError

    check_readable(path, "image")
    try:
        with Image.open(path):
            pass
    except (UnidentifiedImageError, OSError) as exc:
        raise RtagError(f"image {path} cannot be read as an image ({exc}): give a JPEG, PNG, WebP or other photo file") from None


def index_folder(index: str) -> Path:
    """The folder of ``index``, checked to hold an rtag index by its manifest alone (fast:
    no store, no model)."""
    from retrieval_tagger.index import location, manifest

    folder = location.resolve(index)
    manifest.read_manifest(folder, verify="none")
    return folder
