"""Prometheus metrics: one registry per app, errors counted apart."""

from __future__ import annotations

from retrieval_tagger.serve.metrics import Metrics


def test_requests_latency_batches_and_errors_are_rendered():
    a, b = Metrics(), Metrics()  # two apps in one process do not collide
    a.observe("/v1/indexes/{name}/tag", "shop", 200, 0.004)
    a.observe("/v1/indexes/{name}/tag", "shop", 404, 0.001)
    a.batch.labels("shop").observe(7)
    body, media = a.render()
    text = body.decode()
    assert media.startswith("text/plain")
    assert 'rtag_requests_total{index="shop",route="/v1/indexes/{name}/tag",status="200"} 1.0' in text
    assert 'rtag_errors_total{index="shop",route="/v1/indexes/{name}/tag",status="404"} 1.0' in text
    assert 'rtag_request_seconds_bucket{index="shop",le="0.005",route="/v1/indexes/{name}/tag"} 2.0' in text
    assert 'rtag_batch_products_sum{index="shop"} 7.0' in text
    assert "shop" not in b.render()[0].decode()
