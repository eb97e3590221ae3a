"""The typer app. Commands live in their own modules; errors become one clean line."""

from __future__ import annotations

import logging
import sys

import typer

from retrieval_tagger import __version__
from retrieval_tagger.errors import RtagError

app = typer.Typer(
    name="rtag",
    help="Tag e-commerce products by nearest-neighbour voting over text and image embeddings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: ...]" must print, not parse as markup
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rtag {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more detail to stderr."),
) -> None:
    configure_logging(verbose)


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr as ``rtag: message``. The library logs to the ``rtag`` logger: notes
    the user should see (an ONNX export, a backend fallback) at INFO, shown by default;
    detail at DEBUG, shown with --verbose. Other libraries show warnings, or with
    --verbose their INFO too."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="rtag: %(message)s", stream=sys.stderr)
    logging.getLogger("rtag").setLevel(logging.DEBUG if verbose else logging.INFO)


from retrieval_tagger.cli import (  # noqa: E402
    align_cmd,
    eval_cmd,
    index_cmd,
    info_cmd,
    tag_cmd,
    train_reranker_cmd,
    vocab_cmd,
)

for module in (index_cmd, tag_cmd, eval_cmd, info_cmd, align_cmd, vocab_cmd, train_reranker_cmd):
    module.register(app)


def main() -> None:
    """Console entry point: run the app, turning RtagError into one line and exit code 2."""
    try:
        app()
    except RtagError as exc:
        typer.echo(f"rtag: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("rtag: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
