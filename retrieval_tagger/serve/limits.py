"""What every request passes first: a size limit on its body (413, counted as it streams,
whatever Content-Length says); when the server has an API key, the key on /v1 routes; and
photos checked before anything decodes them: valid base64, an image format PIL recognises
from its header, and at most ``max_image_pixels`` pixels (the same limit as files,
RTAG_MAX_IMAGE_PIXELS), so no upload can exhaust memory."""

from __future__ import annotations

import base64
import binascii
import hmac
import io

from fastapi import Request
from starlette.exceptions import HTTPException

from retrieval_tagger.encoders.pixels import max_image_pixels
from retrieval_tagger.serve.problems import UploadError, problem

DEFAULT_MAX_BODY = 20 * 1024 * 1024  # a batch of photos; one 12-megapixel JPEG is about 5 MB


class BodyLimit:
    """ASGI middleware: requests whose body exceeds ``max_bytes`` get a 413 problem."""

    def __init__(self, app, max_bytes: int = DEFAULT_MAX_BODY):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        response = problem(413, f"the request body is over the server's limit of {self.max_bytes:,} bytes (--max-body): send fewer or smaller photos")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def api_key_check(key: str | None):
    """A FastAPI dependency requiring ``Authorization: Bearer <key>`` (no check without a key)."""

    async def check(request: Request) -> None:
        if not key:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise HTTPException(401, "this server needs an API key: send `Authorization: Bearer <key>` (the key given to rtag serve with --api-key or RTAG_API_KEY)")

    return check

def from_base64(text: str, field: str) -> bytes:
    """The bytes of a base64 photo (a ``data:image/...;base64,`` prefix is accepted)."""
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(field, "is not valid base64") from None
    return checked(data, field)


def checked(data: bytes, field: str) -> bytes:
    """``data`` when it is an image of at most the pixel limit; else UploadError."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise UploadError(field, "is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise UploadError(field, "is not an image PIL can read (JPEG, PNG, WebP, ...)") from None
    limit = max_image_pixels()
    if width * height > limit:
        raise UploadError(field, f"is {width}x{height} pixels, over the server's limit of {limit:,} (RTAG_MAX_IMAGE_PIXELS)")
    return data
