"""Request limits: body size (413 even without Content-Length), the API key, and photos
refused before decoding."""

from __future__ import annotations

import base64
import io

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from PIL import Image

from retrieval_tagger.serve import limits, problems
from retrieval_tagger.serve.problems import UploadError


def png(size=(8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


def test_photos_are_checked_before_decoding(monkeypatch):
    data = png()
    assert limits.from_base64(base64.b64encode(data).decode(), "f") == data
    assert limits.from_base64("data:image/png;base64," + base64.b64encode(data).decode(), "f") == data
    for bad, message in (("%%%", "not valid base64"), (base64.b64encode(b"text").decode(), "not an image"), ("", "empty")):
        with pytest.raises(UploadError, match=message) as caught:
            limits.from_base64(bad, "products.0.image_base64")
        assert caught.value.field == "products.0.image_base64"
    monkeypatch.setenv("RTAG_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(UploadError, match="16x16 pixels, over the server's limit of 100"):
        limits.checked(png((16, 16)), "photo")


def small_app(max_bytes: int, key: str | None = None) -> TestClient:
    app = FastAPI()
    problems.install(app)
    app.add_middleware(limits.BodyLimit, max_bytes=max_bytes)

    @app.post("/echo", dependencies=[Depends(limits.api_key_check(key))])
    async def echo(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    return TestClient(app)


def test_body_limit_with_and_without_content_length():
    client = small_app(100)
    assert client.post("/echo", content=b"x" * 100).json() == {"bytes": 100}
    declared = client.post("/echo", content=b"x" * 101)
    assert declared.status_code == 413 and declared.headers["content-type"] == problems.MEDIA_TYPE
    streamed = client.post("/echo", content=iter([b"x" * 60, b"x" * 60]))  # chunked: no Content-Length
    assert streamed.status_code == 413


def test_api_key():
    client = small_app(1000, key="k1")
    assert client.post("/echo").status_code == 401
    assert client.post("/echo", headers={"Authorization": "Basic k1"}).status_code == 401
    assert client.post("/echo", headers={"Authorization": "Bearer k1"}).status_code == 200
    assert small_app(1000).post("/echo").status_code == 200  # no key: open
