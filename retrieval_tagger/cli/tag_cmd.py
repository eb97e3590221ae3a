"""``rtag tag``: tag new products (a file, or one product from --text/--image)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from retrieval_tagger import tag_defaults
from retrieval_tagger.cli import common


@common.with_options(common.TAGGING, common.COLUMNS, common.MODELS)
def tag(
    input_file: Path = typer.Argument(None, help="Products to tag: .csv, .tsv, .jsonl or .parquet."),
    index: str = common.Index,
    text: str = typer.Option(None, "--text", help="Tag one product from this text."),
    image: Path = typer.Option(None, "--image", help="Tag one product from this image (with or without --text)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    top_n: int = typer.Option(None, "--top-n", help=f"At most this many tags per product; with a taxonomy --vocab, at most this many levels of the path, from the root [default: every facet's value, and up to {tag_defaults.TOP_N} tags in all]."),
    min_score: float = typer.Option(tag_defaults.MIN_SCORE, "--min-score", help="Free tags scoring below this are left out; a facet's value below it is still returned, marked \"review\": true (--drop-review leaves it out). Scores are in [0, 1]; with a trained reranker they are calibrated probabilities, so 0.5 means at least 50% likely."),
    precision: float = typer.Option(None, "--precision", help="Mark \"review\": true the tags scoring below the threshold that gives this precision (e.g. 0.95) per facet on the catalog's own leave-one-out predictions (recorded by `rtag index` and `rtag train-reranker`)."),
    drop_review: bool = typer.Option(False, "--drop-review", help="Leave out the tags marked review (below --precision's threshold or --min-score) instead of returning them."),
    all_values: bool = typer.Option(False, "--all-values", help="Let several values of one facet through (facets are exclusive by default)."),
    exclude_self: bool = typer.Option(False, "--exclude-self/--include-self", help="Leave a product whose id is in the index out of its own neighbours."),
    vocab: str = typer.Option(None, "--vocab", help="Tag against this stored vocabulary (see `rtag vocab add`) instead of the catalog's tags."),
    mode: str = typer.Option("auto", "--mode", help="With --vocab: auto (votes for tags the catalog has examples of, tag names for the rest), knn or zeroshot."),
    depth: int = typer.Option(None, "--depth", help="With a taxonomy --vocab: predict paths of at most this many levels."),
    explain: bool = typer.Option(False, "--explain", help="Add each tag's \"why\": every signal's share of the fused score, the catalog products that voted for it, the words of the text in its name, the reranker's change (JSONL only)."),
    **options,
) -> None:
    """Tag products by voting over their nearest tagged catalog products, or against a
    stored vocabulary by tag names (zero-shot) blended with votes (--vocab)."""
    from retrieval_tagger import artifacts
    from retrieval_tagger.catalog import read_catalog, spec_from_manifest
    from retrieval_tagger.errors import RtagError
    from retrieval_tagger.output import throughput, write_results
    from retrieval_tagger.pipeline import Tagger

    started = time.perf_counter()
    opts = common.tagging_options(options, top_n=top_n, min_score=min_score, exclusive=not all_values, exclude_self=exclude_self,
                                  precision=precision, drop_review=drop_review)
    if explain:
        if vocab is not None or fmt != "jsonl":
            raise RtagError("--explain explains the catalog's own tags in JSONL output: drop --vocab and --format csv")
        opts.update(explain=True)
    if vocab is not None:
        opts.update(vocab=vocab, mode=mode, depth=depth)
    elif mode != "auto" or depth is not None:
        raise RtagError("--mode and --depth apply to tagging against a vocabulary: add --vocab NAME")
    _check(input_file, text, image, index, fmt, opts)
    tagger = Tagger.load(index, rerank=options["rerank"], **common.model_options(options))
    if input_file is not None:
        columns = tagger.index.manifest["catalog"]["columns"]
        spec = spec_from_manifest(columns, **common.column_overrides(options))
        spec.facet_cols, spec.tags_col = (), None  # inputs need no tags
        products, _ = read_catalog(input_file, spec, purpose="query")
    else:
        products = [{"id": "query", "text": text or "", "image": str(image) if image else None}]
    results = tagger.tag(products, **opts)
    if output is None:
        write_results(results, sys.stdout, fmt)
        sys.stdout.flush()
        typer.echo(throughput(len(results), time.perf_counter() - started), err=True)
        return
    with artifacts.atomic_path(output) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        count = write_results(results, fh, fmt)
    failed = sum(1 for r in results if r.error)
    typer.echo(f"wrote {count} products to {output} ({failed} could not be tagged); {throughput(count, time.perf_counter() - started)}", err=True)


def _check(input_file: Path | None, text: str | None, image: Path | None, index: str, fmt: str, opts: dict) -> None:
    """What can be checked before the models load (tens of seconds): the arguments, the
    tagging options, the files, the index and the vocabulary."""
    from retrieval_tagger.errors import RtagError
    from retrieval_tagger.output import FORMATS
    from retrieval_tagger.pipeline import TagOptions

    if (input_file is None) == (text is None and image is None):
        raise RtagError("give either an INPUT file or --text/--image for one product")
    if fmt not in FORMATS:
        raise RtagError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}")
    TagOptions.from_kwargs(**opts)
    if input_file is not None:
        common.check_input_file(input_file)
    elif image is not None and text is None:
        common.check_image(image)  # alone, an unreadable image leaves nothing to tag
    folder = common.index_folder(index)
    if opts.get("vocab") is not None:
        from retrieval_tagger.errors import VocabError
        from retrieval_tagger.vocab.stored import list_vocabs

        stored = [man["name"] for man in list_vocabs(folder)]
        if opts["vocab"] not in stored:
            raise VocabError(f"index {index} has no vocabulary {opts['vocab']!r} (it has: {', '.join(stored) or 'none'}); "
                             f"add one with `rtag vocab add --index {index} FILE --name {opts['vocab']}`")


def register(app: typer.Typer) -> None:
    app.command("tag")(tag)
