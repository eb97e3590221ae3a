"""Errors as problem+json (RFC 9457): ``type``, ``title``, ``status``, ``detail``, and for
invalid requests the fields that were wrong."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from retrieval_tagger.errors import IndexNotFoundError, RtagError, VocabError

MEDIA_TYPE = "application/problem+json"
TITLES = {400: "Bad request", 401: "Unauthorized", 404: "Not found", 405: "Method not allowed", 413: "Request too large",
          422: "Invalid request", 500: "Internal error", 503: "Not ready"}


class UploadError(ValueError):
    """An uploaded photo that is refused; ``field`` names where it came from."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFoundError(RtagError):
    """Something the client named (a product of an index, its photo) is not here: 404."""


def problem(status: int, detail: str, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def rtag_status(exc: RtagError) -> int:
    """404 for an unknown index or vocabulary, 400 for other refusals."""
    if isinstance(exc, (IndexNotFoundError, NotFoundError)) or (isinstance(exc, VocabError) and "no vocabulary" in str(exc).lower()):
        return 404
    return 400


def install(app) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return problem(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem(422, f"{first['field']}: {first['message']}", errors=errors)

    @app.exception_handler(UploadError)
    async def bad_upload(request: Request, exc: UploadError):
        return problem(400, str(exc), errors=[{"field": exc.field, "message": str(exc)}])

    @app.exception_handler(RtagError)
    async def refused(request: Request, exc: RtagError):
        return problem(rtag_status(exc), str(exc))
