"""``rtag serve`` driven over HTTP: a real server process on a loopback port, every
endpoint and every refusal (problem+json), the API key, the offline /docs and the page."""

from __future__ import annotations

import base64
import io
import shutil

import pytest
from live_server import running_server
from PIL import Image
from toy_catalog import FACET_VOCAB, write_file

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def shop(both_index, tmp_path_factory):
    """A copy of the text + image index, called "shop", with a stored vocabulary "facets"."""
    from retrieval_tagger.pipeline import Tagger

    folder = tmp_path_factory.mktemp("served") / "shop"
    shutil.copytree(both_index, folder)
    Tagger.load(folder).add_vocab(write_file(folder.parent / "facets.txt", FACET_VOCAB), "facets")
    return folder


@pytest.fixture(scope="module")
def server(shop):
    with running_server("--index", shop, "--batch-window-ms", "2", "--max-body-mb", "0.5",
                        env={"RTAG_MAX_IMAGE_PIXELS": "1000000"}) as client:
        yield client


def png(colour=(220, 20, 30), size=(40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def tag(client, *products, **options):
    return client.post("/v1/indexes/shop/tag", json={"products": list(products), "options": options})


def test_service_routes(server):
    assert server.get("/health").json() == {"status": "ok"}
    assert server.get("/ready").json() == {"status": "ready", "indexes": ["shop"]}
    (summary,) = server.get("/v1/indexes").json()
    assert summary["name"] == "shop" and summary["products"] == 30 and summary["vocabularies"] == ["facets"]
    assert server.get("/v1/indexes/shop").json()["encoders"] == {"text": "hash:64", "image": "rtag-tiny:random"}
    tag(server, {"id": "m", "title": "red cotton shirt"})
    metrics = server.get("/metrics").text
    assert 'rtag_requests_total{index="shop",route="/v1/indexes/{name}/tag",status="200"}' in metrics
    assert "rtag_batch_products_count" in metrics


def test_tags_text_photo_and_upload_like_the_library(server, shop, catalog_dir):
    from retrieval_tagger.pipeline import Tagger

    photo = (catalog_dir / "images" / "p07.png").read_bytes()
    body = tag(server, {"id": "t", "title": "red cotton shirt"}, {"id": "p", "image_base64": base64.b64encode(photo).decode()},
               {"id": "e"}, top_n=4)
    assert body.status_code == 200
    results = body.json()["results"]
    library = [r.to_dict() for r in Tagger.load(shop).tag([{"id": "t", "text": "red cotton shirt"}, {"id": "p", "image": photo}, {"id": "e"}], top_n=4)]
    assert [{k: v for k, v in r.items() if v is not None} for r in results] == library
    assert results[2]["error"] == "no text and no image"  # every product answered, in order
    upload = server.post("/v1/indexes/shop/tag-upload", data={"id": "u", "title": "red cotton shirt", "top_n": "4"},
                         files={"photo": ("p07.png", photo, "image/png")})
    assert upload.status_code == 200 and upload.json()["results"][0]["tags"]
    data_url = "data:image/png;base64," + base64.b64encode(photo).decode()
    assert tag(server, {"id": "p", "image_base64": data_url}, top_n=4).json()["results"][0] == results[1]


def test_vocabulary_option(server):
    result = tag(server, {"id": "v", "title": "blue denim jeans"}, vocab="facets").json()["results"][0]
    assert result["tags"] and all(":" in t["tag"] or t["tag"] for t in result["tags"])


@pytest.mark.parametrize("request_args, status, field", [
    (("post", "/v1/indexes/nope/tag", {"json": {"products": [{"title": "x"}]}}), 404, None),
    (("post", "/v1/indexes/shop/tag", {"json": {"products": [{"title": "x"}], "options": {"vocab": "nope"}}}), 404, None),
    (("post", "/v1/indexes/shop/tag", {"json": {"products": [{"id": "a", "titel": "x"}]}}), 422, "body.products.0.titel"),
    (("post", "/v1/indexes/shop/tag", {"json": {"products": [{"title": "x"}], "options": {"top_n": 0}}}), 422, "body.options.top_n"),
    (("post", "/v1/indexes/shop/tag", {"json": {"products": []}}), 422, "body.products"),
    (("post", "/v1/indexes/shop/tag", {"content": b"{not json", "headers": {"content-type": "application/json"}}), 422, None),
    (("post", "/v1/indexes/shop/tag", {"json": {"products": [{"image_base64": "%%%"}]}}), 400, "products.0.image_base64"),
    (("post", "/v1/indexes/shop/tag", {"json": {"products": [{"image_base64": base64.b64encode(b"not an image").decode()}]}}), 400, "products.0.image_base64"),
    (("post", "/v1/indexes/shop/tag", {"json": {"products": [{"image_base64": base64.b64encode(png(size=(1200, 1000))).decode()}]}}), 400, "products.0.image_base64"),
    (("post", "/v1/indexes/shop/tag", {"json": {"products": [{"title": "x" * 600_000}]}}), 413, None),
    (("post", "/v1/indexes/shop/tag-upload", {"files": {"photo": ("a.txt", b"hello", "text/plain")}}), 400, "photo"),
    (("get", "/v1/indexes/shop/products/nope/image", {}), 404, None),
    (("get", "/v1/indexes/shop/products/..%2F..%2Fetc%2Fpasswd/image", {}), 404, None),
    (("delete", "/v1/indexes/shop", {}), 405, None),
])
def test_refusals_are_problem_json(server, request_args, status, field):
    method, url, kwargs = request_args
    response = getattr(server, method)(url, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["detail"] and "\n" not in body["detail"]
    if field:
        assert field in [e["field"] for e in body["errors"]]


def test_catalog_products_and_thumbnails_by_id_only(server):
    from toy_catalog import catalog_rows

    product = server.get("/v1/indexes/shop/products/p07").json()
    row = next(r for r in catalog_rows() if r["id"] == "p07")
    assert product == {"id": "p07", "title": f"{row['title']} {row['description']}", "has_image": True}
    thumb = server.get("/v1/indexes/shop/products/p07/image")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size[0] <= 160


def test_docs_and_page_load_without_a_network(server):
    docs = server.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert server.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    schema = server.get("/openapi.json").json()
    assert "/v1/indexes/{name}/tag" in schema["paths"]
    page = server.get("/").text
    assert "/page/page.js" in page and "http" not in page.replace("http-equiv", "")
    assert server.get("/page/page.js").status_code == 200


def test_api_key_guards_v1_only(shop):
    with running_server("--index", shop, "--reload-every", "0", env={"RTAG_API_KEY": "s3cret"}) as client:
        assert client.get("/health").status_code == 200
        refused = client.get("/v1/indexes")
        assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM
        assert client.get("/v1/indexes", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/v1/indexes", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_explanations_add_up_and_name_the_voting_products(server):
    result = tag(server, {"id": "x", "title": "red cotton shirt"}, explain=True, top_n=3).json()["results"][0]
    whys = [t["why"] for t in result["tags"]]
    assert whys and all(abs(sum(w["signals"].values()) - w["fused"]) < 2e-3 for w in whys)
    neighbours = [n for w in whys for n in w["neighbours"]]
    assert neighbours and all(n["title"] and n["id"].startswith("p") for n in neighbours)
    plain = tag(server, {"id": "x", "title": "red cotton shirt"}, top_n=3).json()["results"][0]
    assert [{k: v for k, v in t.items() if k != "why"} for t in result["tags"]] == plain["tags"]
