"""The OpenAPI document is generated from the validating models, and schemathesis finds no 5xx
and no response that breaks it."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from conftest import Api


def test_openapi_document_and_docs_are_served(api: Api) -> None:
    spec = api.client.get("/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/v1/exports",
        "/v1/exports/{id}",
        "/v1/flows/{id}",
        "/v1/tokenInfo",
        "/v1/state/{key}",
        "/v1/audit",
        "/v1/exports/{id}/distributed",
    ):
        assert path in spec["paths"], path
    export_post = spec["paths"]["/v1/exports"]["post"]
    schema_ref = export_post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("/Export")
    assert "pageSize" in spec["components"]["schemas"]["Export"]["properties"]
    assert api.client.get("/docs").status_code == 200


def test_schemathesis_finds_no_server_error_and_no_schema_violation(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", api.client.app)
    operations = list(schema.get_all_operations())
    assert len(operations) > 50
    failures: list[str] = []
    for result in operations:
        check_operation(result.ok(), api.headers, failures)
    assert not failures, "\n\n".join(failures[:10])


def check_operation(operation: Any, headers: dict[str, str], failures: list[str]) -> None:
    """Run a few generated cases of one operation; collect failures so one run reports all."""

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def run(case: schemathesis.Case) -> None:
        case.headers = {**(case.headers or {}), **headers}
        response = case.call()
        for check in (not_a_server_error, response_schema_conformance):
            try:
                case.validate_response(response, checks=[check])
            except Exception as exc:
                failures.append(f"{operation.label}: {exc}"[:2000])
                return

    run()
