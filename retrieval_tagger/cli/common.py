"""Options shared by several commands, declared once; defaults come from the library
(tag_defaults, align.options), which imports nothing heavy, so --help stays fast."""

from __future__ import annotations

import typer

from retrieval_tagger import tag_defaults
from retrieval_tagger.catalog import CatalogSpec


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


def catalog_spec(id_col, text_cols, image_col, tags_col, facet_cols, strict=False) -> CatalogSpec:
    return CatalogSpec(
        id_col=id_col,
        text_cols=split_list(text_cols) or None,
        image_col=image_col,
        tags_col=tags_col,
        facet_cols=split_list(facet_cols),
        strict=strict,
    )
