"""The typer app. Commands live in their own modules; errors become one clean line."""

from __future__ import annotations

import errno
import logging
import sys
import traceback
import warnings

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


# set by --debug: main() then prints the traceback of a failure above its one line
_debug = False


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more detail to stderr."),
    debug: bool = typer.Option(False, "--debug", help="On a failure, print the traceback above the one-line error."),
) -> None:
    global _debug
    _debug = debug
    configure_logging(verbose)
    # rtag refuses photos over its own, lower pixel limit with a warning naming the file
    # (encoders/pixels.py); Pillow's two-line warning about the same photo adds nothing
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")


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
    serve_cmd,
    tag_cmd,
    train_reranker_cmd,
    vocab_cmd,
)

for module in (index_cmd, tag_cmd, eval_cmd, info_cmd, align_cmd, vocab_cmd, train_reranker_cmd, serve_cmd):
    module.register(app)


# what to do about the operating-system errors a user can fix
_OS_HINTS = {
    errno.ENOSPC: "free some disk space and run again",
    errno.EDQUOT: "free some of your disk quota and run again",
    errno.EACCES: "check the permissions of that path",
    errno.EPERM: "check the permissions of that path",
    errno.EROFS: "write to a writable folder",
    errno.ENOENT: "check the path",
    errno.EMFILE: "raise the open-file limit (ulimit -n) and run again",
}


def describe(exc: BaseException) -> str:
    """One line for a failure that is not an RtagError: an operating-system error the user
    can fix says what to do; anything else names its type and points at --debug."""
    hint = _OS_HINTS.get(getattr(exc, "errno", None)) if isinstance(exc, OSError) else None
    if hint and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror.lower()}{where}: {hint}"
    message = _one_line(str(exc)) or "no message"
    return f"{type(exc).__name__}: {message} (run with --debug for the traceback)"


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _fail(line: str, code: int) -> None:
    if _debug:
        traceback.print_exc()
    typer.echo(f"rtag: error: {line}", err=True)
    sys.exit(code)


def main() -> None:
    """Console entry point: an RtagError becomes one line and exit code 2, any other
    failure one line (see describe) and exit code 1; --debug adds the traceback."""
    try:
        app()
    except RtagError as exc:
        _fail(_one_line(str(exc)), 2)
    except KeyboardInterrupt:
        typer.echo("rtag: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        _fail(describe(exc), 1)


if __name__ == "__main__":
    main()
