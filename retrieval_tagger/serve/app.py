"""The FastAPI application: routes, the offline /docs page, the web page, hot reload.

``create_app(settings)`` builds it; ``rtag serve`` (cli/serve_cmd.py) runs it on uvicorn.
Routes under /v1 are the versioned API (schemas.py); /health, /ready and /metrics are for
the platform that runs the server; / is the page (page/).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, File, Form, UploadFile
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from retrieval_tagger import __version__
from retrieval_tagger.serve import limits, problems
from retrieval_tagger.serve.batching import (
    DEFAULT_MAX_PRODUCTS,
    DEFAULT_WINDOW_MS,
    MicroBatcher,
)
from retrieval_tagger.serve.catalog_view import CatalogView
from retrieval_tagger.serve.indexes import IndexPool
from retrieval_tagger.serve.limits import DEFAULT_MAX_BODY, BodyLimit, api_key_check
from retrieval_tagger.serve.metrics import Metrics
from retrieval_tagger.serve.schemas import (
    IndexSummary,
    Problem,
    ProductOut,
    TagOptionsIn,
    TagRequest,
    TagResponse,
)

log = logging.getLogger(__name__)
THUMBNAIL = 160  # pixels on the long side


@dataclass
class ServeSettings:
    window_ms: float = DEFAULT_WINDOW_MS  # how long a batch waits for more requests
    max_batch: int = DEFAULT_MAX_PRODUCTS  # products that run a batch at once
    max_body: int = DEFAULT_MAX_BODY  # bytes per request
    api_key: str | None = None
    cors_origins: list[str] = field(default_factory=list)
    reload_every_s: float = 2.0  # how often index folders are checked for a new build (0: never)


def create_app(pool: IndexPool, settings: ServeSettings | None = None) -> FastAPI:
    """The app serving ``pool``'s indexes (loaded at start-up, off the event loop)."""
    settings = settings or ServeSettings()
    metrics = Metrics()
    batchers: dict[str, MicroBatcher] = {}
    views: dict[str, tuple[float, CatalogView]] = {}  # index name -> (build loaded at, its catalog view)

    def batcher(name: str) -> MicroBatcher:
        if name not in batchers:
            def run(products: list, options: dict) -> list:
                tagger = pool.get(name).tagger  # the current build: a swap after this does not touch this batch
                return [r.to_dict() for r in tagger.tag(products, **options)]

            batchers[name] = MicroBatcher(run, settings.window_ms, settings.max_batch, metrics.batch.labels(name).observe, name)
        return batchers[name]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(pool.load_all)
        watcher = asyncio.create_task(_watch(pool, metrics, settings.reload_every_s)) if settings.reload_every_s > 0 else None
        yield
        if watcher is not None:
            watcher.cancel()
        for b in batchers.values():
            b.close()

    app = FastAPI(title="rtag", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Tag products against rtag indexes. Errors are problem+json.")
    problems.install(app)
    _install_docs(app)

    app.add_middleware(_Observed, metrics=metrics)

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, max_bytes=settings.max_body)

    @app.get("/health", tags=["service"])
    async def health() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["service"], responses={503: {"description": "Indexes still loading"}})
    async def ready():
        """Readiness: every index is loaded."""
        if not pool.ready:
            return problems.problem(503, "indexes are still loading")
        return {"status": "ready", "indexes": pool.names()}

    @app.get("/metrics", tags=["service"], response_class=Response)
    async def prometheus() -> Response:
        """Prometheus metrics."""
        body, media = metrics.render()
        return Response(body, media_type=media)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(api_key_check(settings.api_key))],
                   responses={401: {"description": "Missing or wrong API key"}, 404: {"description": "Unknown index or vocabulary"}})

    @v1.get("/indexes", response_model=list[IndexSummary], tags=["indexes"])
    async def list_indexes():
        """Every served index with its summary."""
        return [_summary(pool, name) for name in pool.names()]

    @v1.get("/indexes/{name}", response_model=IndexSummary, tags=["indexes"])
    async def show_index(name: str):
        """One index: products, tags, encoders, fitted accuracy, reranker, vocabularies."""
        return _summary(pool, name)

    @v1.post("/indexes/{name}/tag", response_model=TagResponse, tags=["tagging"],
             responses={400: {"description": "A refused photo or option"}, 413: {"description": "Request too large"}})
    async def tag(name: str, request: TagRequest):
        """Tag a batch of products; every product is answered, in order (``error`` when it
        could not be tagged)."""
        pool.get(name)
        products = [_product(p, f"products.{i}.image_base64") for i, p in enumerate(request.products)]
        results = await batcher(name).submit(products, request.options.given())
        if request.options.explain:
            await asyncio.to_thread(_add_titles, _view(pool, views, name), results)
        # the results are built by the library, already in the response's shape: sent as
        # they are (validating them again cost more than tagging one product)
        return JSONResponse({"index": name, "results": results})

    @v1.post("/indexes/{name}/tag-upload", response_model=TagResponse, tags=["tagging"],
             responses={400: {"description": "A refused photo or option"}, 413: {"description": "Request too large"}})
    async def tag_upload(name: str, id: str = Form(""), title: str = Form(""), description: str = Form(""),
                         photo: UploadFile = File(None), top_n: int = Form(None, ge=1, le=1000),
                         vocab: str = Form(""), precision: float = Form(None, gt=0.0, le=1.0), explain: bool = Form(False)):
        """One product as a multipart form (title and/or photo file), for the page and curl.
        Fields left out take the index's defaults (a form has no null: the types say what
        a given field must be)."""
        pool.get(name)
        image = None
        if photo is not None and photo.filename:
            image = limits.checked(await photo.read(), "photo")
        product = {"id": id, "title": title, "description": description, "image": image}
        options = TagOptionsIn(top_n=top_n, vocab=vocab or None, precision=precision, explain=(explain and not vocab) or None).given()
        results = await batcher(name).submit([product], options)
        if options.get("explain"):
            await asyncio.to_thread(_add_titles, _view(pool, views, name), results)
        return {"index": name, "results": results}

    @v1.get("/indexes/{name}/products/{product_id}", response_model=ProductOut, tags=["indexes"])
    async def product(name: str, product_id: str):
        """A catalog product of the index: its title (from the catalog file the index was built from)."""
        view = _catalog_product(pool, views, name, product_id)
        title = await asyncio.to_thread(view.title, product_id)
        return {"id": product_id, "title": title, "has_image": view.image(product_id) is not None}

    @v1.get("/indexes/{name}/products/{product_id}/image", tags=["indexes"], response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})
    async def product_image(name: str, product_id: str):
        """A thumbnail of a catalog product's photo, by product id."""
        view = _catalog_product(pool, views, name, product_id)
        path = await asyncio.to_thread(view.image, product_id)
        if path is None:
            raise problems.NotFoundError(f"product {product_id!r} of index {name} has no photo here" + (f" ({view.reason})" if view.reason else ""))
        return Response(await asyncio.to_thread(_thumbnail, path), media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    app.include_router(v1)
    _install_page(app)
    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema with every error answer described as what it is: problem+json."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(components["Problem"].pop("$defs", {}))
        for path in schema["paths"].values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    if status[0] in "45":
                        response["content"] = {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
    return app.openapi_schema


def _product(p, where: str) -> dict:
    image = limits.from_base64(p.image_base64, where) if p.image_base64 else None
    return {"id": p.id, "title": p.title, "description": p.description, "text": p.text, "image": image}


class _Observed:
    """ASGI middleware: each request's route, index, status and latency into the metrics
    (a plain ASGI wrapper: Starlette's BaseHTTPMiddleware costs far more per request)."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def sent(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(route, (scope.get("path_params") or {}).get("name", ""), status, time.perf_counter() - start)


def _add_titles(view: CatalogView, results: list[dict]) -> None:
    """The catalog titles of the neighbours in explanations (None where the catalog file
    is not available)."""
    for result in results:
        for tag in result.get("tags") or []:
            for neighbour in (tag.get("why") or {}).get("neighbours", []):
                neighbour["title"] = view.title(neighbour["id"])


def _summary(pool: IndexPool, name: str) -> dict:
    served = pool.get(name)
    index = served.tagger.index
    man = index.manifest
    fit = (man.get("fusion") or {}).get("fit") or {}
    return {
        "name": name, "products": man["counts"]["products"], "tags": man["counts"]["tags"],
        "encoders": {role: enc["spec"] for role, enc in man["encoders"].items()}, "created": man["created"],
        "reranker": served.tagger.reranker is not None, "vocabularies": sorted(index.vocabs),
        "fitted_accuracy": fit.get("accuracy"), "loaded_at": served.loaded_at, "reload_error": served.reload_error,
    }


def _view(pool: IndexPool, views: dict, name: str) -> CatalogView:
    """The catalog view of the build now served as ``name`` (one per index: a reload
    replaces it, so old builds' titles are not kept)."""
    served = pool.get(name)
    held = views.get(name)
    if held is None or held[0] != served.loaded_at:
        held = views[name] = (served.loaded_at, CatalogView(served.tagger.index.manifest))
    return held[1]


def _catalog_product(pool: IndexPool, views: dict, name: str, product_id: str) -> CatalogView:
    """The catalog view of index ``name``, when ``product_id`` is one of its products (else 404)."""
    view = _view(pool, views, name)
    if product_id not in pool.get(name).tagger.index.id_rows:
        raise problems.NotFoundError(f"index {name} has no product {product_id!r}")
    return view


def _thumbnail(path: Path) -> bytes:
    from retrieval_tagger.encoders.pixels import load_rgb

    img = load_rgb(str(path), THUMBNAIL)
    img.thumbnail((THUMBNAIL, THUMBNAIL))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


async def _watch(pool: IndexPool, metrics: Metrics, every_s: float) -> None:
    """Check the index folders every ``every_s`` seconds; swap in new builds."""
    while True:
        await asyncio.sleep(every_s)
        try:
            for name in await asyncio.to_thread(pool.refresh):
                metrics.reloads.labels(name).inc()
        except Exception:  # a watcher that dies would stop reloads silently: log and go on
            log.exception("checking the index folders for new builds failed")


def _install_docs(app: FastAPI) -> None:
    """/docs from the Swagger UI files shipped in the swagger-ui-bundle package (FastAPI's
    default loads them from a CDN: a blank page offline)."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="rtag API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


def _install_page(app: FastAPI) -> None:
    page = resources.files("retrieval_tagger.serve") / "page"
    app.mount("/page", StaticFiles(directory=str(page)), name="page")

    @app.get("/", include_in_schema=False)
    async def index_page() -> HTMLResponse:
        return HTMLResponse((page / "index.html").read_text(encoding="utf-8"))


def from_environment() -> FastAPI:
    """The app ``rtag serve`` asked for, built from what it put in the environment
    (RTAG_SERVE_INDEXES, RTAG_SERVE_SETTINGS): uvicorn runs this factory in each worker
    process (``retrieval_tagger.serve.app:from_environment``)."""
    pairs = [item.split("=", 1) for item in os.environ.get("RTAG_SERVE_INDEXES", "").split(os.pathsep) if item]
    settings = ServeSettings(**json.loads(os.environ.get("RTAG_SERVE_SETTINGS", "{}")))
    return create_app(IndexPool({name: Path(folder) for name, folder in pairs}), settings)
