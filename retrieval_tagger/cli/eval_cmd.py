"""``rtag eval``: tag a labelled file and score the tags against the truth."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from retrieval_tagger.cli import common


@common.with_options(common.TAGGING, common.COLUMNS, common.TAG_COLUMNS, common.MODELS)
def evaluate_cmd(
    test_file: Path = typer.Argument(..., help="Labelled products, same format and columns as the catalog."),
    index: str = common.Index,
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    ks: str = typer.Option("1,3,5", "--ks", help="Cut-offs for P@k, R@k, F1@k, nDCG@k."),
    examples: int = typer.Option(0, "--examples", help="Also show this many products' tags next to the truth."),
    side_by_side: bool = typer.Option(False, "--compare", help="One table of every method on the same products: most frequent value, text kNN voting, fused voting, reranked, reranked + MMR (at --diversity)."),
    exclude_self: bool = typer.Option(True, "--exclude-self/--include-self", help="Leave a product whose id is in the index out of its own neighbours."),
    plot: Path = typer.Option(None, "--plot", help="Write the precision–coverage curve of each facet to this PNG file (needs matplotlib: pip install 'retrieval-tagger[plot]')."),
    **options,
) -> None:
    """P@k, R@k, F1@k, nDCG@k, facet accuracy (overall and per facet), and the coverage
    per facet at precisions 0.90, 0.95 and 0.99 (`rtag tag --precision`) on a labelled file."""
    from retrieval_tagger.catalog import read_catalog, spec_from_manifest
    from retrieval_tagger.errors import RtagError
    from retrieval_tagger.jobs.evaluate import (
        compare,
        evaluate,
        format_comparison,
        format_report,
    )
    from retrieval_tagger.output import throughput
    from retrieval_tagger.pipeline import Tagger, TagOptions

    started = time.perf_counter()
    try:
        cutoffs = tuple(int(v) for v in common.split_list(ks))
    except ValueError as exc:
        raise RtagError(f"--ks must be comma-separated whole numbers, got {ks!r}") from exc
    if not cutoffs or min(cutoffs) < 1:
        raise RtagError(f"--ks must list cut-offs of at least 1, got {ks!r}")
    opts = common.tagging_options(options, exclude_self=exclude_self)
    # checked before the models load (tens of seconds)
    TagOptions.from_kwargs(**opts)
    common.check_input_file(test_file, "test file")
    common.index_folder(index)
    if plot is not None:
        if side_by_side:
            raise RtagError("--plot draws the curves of one method: drop --compare")
        from retrieval_tagger.jobs.precision_plot import pyplot

        pyplot()  # a missing matplotlib is said before the models load
    tagger = Tagger.load(index, rerank=options["rerank"], **common.model_options(options))
    spec = spec_from_manifest(tagger.index.manifest["catalog"]["columns"], **common.column_overrides(options))
    products, _ = read_catalog(test_file, spec, purpose="query", known_tags=tagger.index.vocab.tags)
    if side_by_side:
        diversity = opts.pop("diversity", None)
        results = compare(tagger, products, cutoffs, diversity, **opts)
        typer.echo(json.dumps(results, indent=2) if as_json else format_comparison(results))
        typer.echo(throughput(len(products), time.perf_counter() - started), err=True)
        return
    metrics = evaluate(tagger, products, cutoffs, examples=examples, **opts)
    typer.echo(json.dumps(metrics, indent=2) if as_json else format_report(metrics))
    if plot is not None:
        from retrieval_tagger.jobs.precision_plot import write_plot

        typer.echo(f"wrote the precision–coverage curves to {write_plot(metrics['precision'], plot)}", err=True)
    typer.echo(throughput(len(products), time.perf_counter() - started), err=True)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate_cmd)
