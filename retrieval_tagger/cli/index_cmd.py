"""``rtag index``: build an index from a tagged catalog."""

from __future__ import annotations

from pathlib import Path

import typer

from retrieval_tagger.cli import common


@common.with_options(common.COLUMNS, common.TAG_COLUMNS, common.CATEGORY, common.STRICT, common.MODELS)
def index(
    catalog: Path = typer.Argument(..., help="Catalog file: .csv, .tsv, .jsonl or .parquet."),
    name: str = typer.Option(..., "--name", "-n", help=f"Where to build the index: {common.INDEX_NAMING}."),
    text_model: str = typer.Option(None, "--text-model", help="Text encoder: minilm (default for English), use-multilingual (default for other languages), e5-multilingual, hash:DIM, or a sentence-transformers name/folder."),
    language: str = typer.Option("auto", "--language", help="The catalog's language, recorded in the index: auto (detected from a sample of titles by script: zh, ja, ko or en) or a code such as en, zh, de."),
    image_model: str = typer.Option(None, "--image-model", help="Image encoder: rtag-lite (default), rtag-lite@SIZE, ARCH:TAG, ARCH:/path/ckpt, an aligned model folder (rtag align), or none."),
    align: bool = typer.Option(False, "--align", help="First train an aligned image-text model on this catalog (as `rtag align` does, starting from --image-model) and keep it inside the index."),
    index_type: str = typer.Option("auto", "--index-type", help="auto (exact below 10k vectors, or 1M on a GPU; HNSW up to 2M; IVF with 8-bit codes above), flat, hnsw, ivf or ivf-sq8."),
    image_batch: int = typer.Option(None, "--image-batch", help="Images per encoder batch [default: 64 on a CPU, sized to the device on a GPU]."),
    # --batch-size was this option's name until 0.1; kept for one release, hidden, with a warning
    batch_size: int = typer.Option(None, "--batch-size", hidden=True, help="Deprecated: use --image-batch."),
    force: bool = typer.Option(False, "--force", help="Replace an existing index of that name."),
    nested_facets: bool = typer.Option(True, "--nested-facets/--no-nested-facets", help="Learn facets nested in others (every value under one value of a coarser facet, up to 1% of rows) and return them as one consistent path."),
    **options,
) -> None:
    """Build an index of a tagged catalog: embeddings per modality, ids, tags, manifest."""
    from retrieval_tagger.align.options import AlignOptions
    from retrieval_tagger.build import BuildOptions, build_index
    from retrieval_tagger.tags import split_facet

    spec = common.catalog_spec(options)
    if not spec.tags_col and not spec.facet_cols and not spec.category_col:
        typer.echo("rtag: warning: no --tags-col, --facet-cols or --category-col given: products carry no tags to vote with", err=True)
    if batch_size is not None:
        typer.echo("rtag: warning: `rtag index --batch-size` is now --image-batch; --batch-size goes in the next release", err=True)
        image_batch = image_batch if image_batch is not None else batch_size
    options = BuildOptions(
        text_model=text_model, image_model=image_model, index_type=index_type, force=force, image_batch=image_batch,
        align=AlignOptions() if align else None, nested_facets=nested_facets, language=language, **common.model_options(options),
    )
    man = build_index(catalog, name, spec, options)
    counts, stores = man["counts"], man["stores"]
    typer.echo(f"catalog: {man['report']['summary']}; language {language_line(man['language'])}", err=True)
    for example_kind, examples in man["report"].get("examples", {}).items():
        typer.echo(f"  {example_kind}: {'; '.join(examples)}", err=True)
    store_txt = ", ".join(f"{k} {v['vectors']} vectors ({v['type']})" for k, v in stores.items())
    timings = man["build"]["timings"]
    typer.echo(
        f"index {name}: {counts['products']} products, {counts['tags']} tags; {store_txt}; "
        f"built in {timings['total_s']:.1f}s ({counts['products'] / max(timings['total_s'], 1e-9):.0f} products/s)"
    )
    for line in tree_lines(man.get("hierarchy")):
        typer.echo(line)
    fit = man["fusion"].get("fit", {})
    if fit.get("sample"):
        # with free tags only the fit scores whether the top tag is a true one
        what = "facet accuracy" if any(split_facet(t["tag"])[0] for t in man["vocabulary"]) else "top-tag accuracy"
        typer.echo(
            f"fusion fitted by leave-one-out on {fit['sample']} products: {what} "
            f"{fit['fused_accuracy']['default']:.4f} (see `rtag info {name}`)"
        )
    else:
        typer.echo(f"fusion: default weights ({fit.get('reason', 'not fitted')})")


def language_line(section: dict) -> str:
    """``zh (detected, CJK share 0.71)``: the index's language as `rtag index` shows it."""
    return f"{section['code']} ({section['how']}, CJK share {section['cjk_share']:.2f})"


def tree_lines(section: dict | None) -> list[str]:
    """The index's tag tree as `rtag index` and `rtag info` show it."""
    lines = []
    for group in (section or {}).get("groups", []):
        facets = group["facets"]
        if group["kind"] == "path":
            lines.append(f"category tree ({group['column']}): {group['nodes']} nodes, depth {group['depth']}, {group['paths']} paths; "
                         f"facets {facets[0]}..{facets[-2]}, full path as {facets[-1]}")
        else:
            lines.append(f"nested facets: {' > '.join(facets)} ({group['paths']} paths; rows agreeing: "
                         f"{', '.join(f'{a:.4f}' for a in group['agreement'])})")
    return lines


def register(app: typer.Typer) -> None:
    app.command("index")(index)
