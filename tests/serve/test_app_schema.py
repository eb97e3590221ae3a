"""Schemathesis against the served OpenAPI schema: generated requests to every operation
of a real server (a bounded number each) get no 5xx, and every answer matches the schema
(status codes, content types, bodies)."""

from __future__ import annotations

import shutil

import schemathesis
from hypothesis import HealthCheck, given, settings
from live_server import running_server

EXAMPLES = 12  # per operation: bounded, the suite stays fast


def test_every_operation_answers_within_its_schema(both_index, tmp_path):
    folder = tmp_path / "shop"
    shutil.copytree(both_index, folder)
    with running_server("--index", folder, "--reload-every", "0", "--batch-window-ms", "0") as client:
        schema = schemathesis.openapi.from_url(f"{client.base_url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.label for op in operations} >= {"POST /v1/indexes/{name}/tag", "POST /v1/indexes/{name}/tag-upload", "GET /v1/indexes"}
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
            def check(case):
                case.call_and_validate()

            check()
