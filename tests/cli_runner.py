"""Running ``rtag`` commands in-process (typer's CliRunner) for the tests of cli/."""

from __future__ import annotations

from toy_catalog import IMAGE_SPEC, TEXT_SPEC
from typer.testing import CliRunner

from retrieval_tagger.cli.main import app

runner = CliRunner()
# the fast test encoders, for commands that build an index
FAST = ["--text-model", TEXT_SPEC, "--image-model", IMAGE_SPEC]


def rtag(*args):
    """The result of ``rtag ARGS`` (arguments may be paths or numbers)."""
    return runner.invoke(app, [str(a) for a in args])


def ok(*args):
    """The result of ``rtag ARGS``, which must succeed."""
    result = rtag(*args)
    assert result.exit_code == 0, f"rtag {' '.join(map(str, args))} failed:\n{result.output}\n{result.exception!r}"
    return result
