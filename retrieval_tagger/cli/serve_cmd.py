"""``rtag serve``: the HTTP service and web page (retrieval_tagger/serve/)."""

from __future__ import annotations

import importlib.util
import os
from typing import List, Optional

import typer

from retrieval_tagger.cli import common
from retrieval_tagger.errors import RtagError

SERVE_MODULES = ("fastapi", "uvicorn", "multipart", "swagger_ui_bundle", "prometheus_client")


def serve(
    index: Optional[List[str]] = typer.Option(None, "--index", "-i", help=f"An index to serve (repeat for several): {common.INDEX_NAMING} [default: every index there]."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 exposes the server to the network (use --api-key)."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port to listen on."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="RTAG_API_KEY", help="Require `Authorization: Bearer KEY` on every /v1 route [env RTAG_API_KEY]."),
    batch_window_ms: float = typer.Option(0.0, "--batch-window-ms", min=0, help="How long a request that finds the server idle waits for others to share its batch (requests arriving while a batch runs always share the next one)."),
    max_batch: int = typer.Option(256, "--max-batch", min=1, help="Products that start a batch at once."),
    max_body_mb: float = typer.Option(20.0, "--max-body-mb", min=0.001, help="Largest request body accepted (413 above)."),
    cors_origin: Optional[List[str]] = typer.Option(None, "--cors-origin", help="Allow browser pages from this origin (repeat for several) [default: CORS off]."),
    reload_every: float = typer.Option(2.0, "--reload-every", min=0, help="Seconds between checks for a rebuilt index (0: never reload)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes (each loads every index)."),
) -> None:
    """Serve indexes over HTTP: a JSON API under /v1 (schema at /docs), a page at /, /health,
    /ready and /metrics. Rebuilt indexes are picked up without a restart."""
    missing = [m for m in SERVE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise RtagError(f"rtag serve needs the 'serve' extra (missing {', '.join(missing)}): pip install 'retrieval-tagger[serve]'")
    import uvicorn

    from retrieval_tagger.serve.indexes import served_names

    names = served_names(index or [])  # refuses unknown indexes before anything loads
    os.environ["RTAG_SERVE_INDEXES"] = os.pathsep.join(f"{name}={folder}" for name, folder in names.items())
    os.environ["RTAG_SERVE_SETTINGS"] = _settings_json(batch_window_ms, max_batch, int(max_body_mb * 1024 * 1024), api_key, cors_origin or [], reload_every)
    typer.echo(f"rtag: serving {', '.join(names)} on http://{host}:{port} (page /, API /docs)", err=True)
    uvicorn.run("retrieval_tagger.serve.app:from_environment", factory=True, host=host, port=port, workers=workers, log_level="warning")


def _settings_json(window_ms, max_batch, max_body, api_key, cors, reload_every) -> str:
    import json

    return json.dumps({"window_ms": window_ms, "max_batch": max_batch, "max_body": max_body, "api_key": api_key,
                       "cors_origins": cors, "reload_every_s": reload_every})


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
