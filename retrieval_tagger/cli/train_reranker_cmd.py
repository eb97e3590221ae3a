"""``rtag train-reranker``: learn to rerank candidate tags from the index's own catalog."""

from __future__ import annotations

from pathlib import Path

import typer

from retrieval_tagger.cli import common


@common.with_options({"device": common.MODELS["device"]})
def train_reranker(
    index: str = common.Index,
    catalog: Path = typer.Option(None, "--catalog", help="The catalog the index was built from [default: the path its manifest records]; its texts feed the mentions signal."),
    labelled: Path = typer.Option(None, "--labelled", help="Train on this labelled file (same columns as the catalog) instead of the catalog by leave-one-out."),
    sample: int = typer.Option(None, "--sample", help="Train on at most this many catalog products (chosen by a hash of the id) [default: all]."),
    **options,
) -> None:
    """Train the reranker (gradient-boosted trees, calibrated to probabilities) and save it in the index.

    Each catalog product is tagged with itself left out, as a new product would be; no
    labels beyond the catalog's tags are needed. Tagging and eval then use the reranker
    automatically (--no-rerank bypasses it).
    """
    from retrieval_tagger.cli.info_cmd import helps_lines
    from retrieval_tagger.jobs.train_reranker import train_index

    result = train_index(index, catalog=catalog, labelled=labelled, sample=sample, device=options["device"])
    rep = result["report"]
    typer.echo(f"trained on {result['queries']['fit']} queries, calibrated on {result['queries']['calibrate']}; "
               f"{result['rounds']} trees, {len(result['features'])} features")
    if rep:
        typer.echo(
            f"held-out {rep['queries']} queries: facet accuracy voting {rep['voting']['facet_accuracy']:.4f} -> "
            f"reranked {rep['reranked']['facet_accuracy']:.4f}; ECE {rep['ece']['chosen_tags']:.4f} (chosen tags), "
            f"{rep['ece']['all_candidates']:.4f} (all candidates)"
        )
    typer.echo("\n".join(helps_lines(result["helps"])))
    typer.echo(f"saved {result['folder']}")


def register(app: typer.Typer) -> None:
    app.command("train-reranker")(train_reranker)

