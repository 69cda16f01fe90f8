"""Bad input gets a clear 4xx envelope naming the field, never a 500, never a partial write."""

from __future__ import annotations

from conftest import Api, sample_bodies


def errors(response: object) -> list[dict[str, str]]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"errors"}
    for item in body["errors"]:
        assert {"code", "message"} <= set(item)
    return list(body["errors"])


def test_malformed_json_is_400(api: Api) -> None:
    response = api.post(
        "/v1/integrations", content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert errors(response)[0]["code"] == "invalid_json"


def test_wrong_type_is_422_naming_the_field(api: Api) -> None:
    made = sample_bodies(api)
    body = {"name": "x", "_connectionId": made["connections"]["_id"], "pageSize": "20"}
    response = api.post("/v1/exports", json=body)
    assert response.status_code == 422
    assert errors(response)[0] == {
        "code": "invalid_field",
        "message": errors(response)[0]["message"],
        "field": "pageSize",
    }


def test_missing_required_field_is_422(api: Api) -> None:
    response = api.post("/v1/connections", json={"name": "no type"})
    assert response.status_code == 422
    first = errors(response)[0]
    assert first["code"] == "missing_required_field" and first["field"] == "type"


def test_body_that_is_not_an_object_is_422(api: Api) -> None:
    for body in ([1, 2], "text", 3):
        response = api.post("/v1/integrations", json=body)
        assert response.status_code == 422, body
        errors(response)


def test_oversize_body_is_413(api: Api) -> None:
    big = "x" * (5 * 1024 * 1024 + 10)
    response = api.post("/v1/integrations", json={"name": "x", "readme": big})
    assert response.status_code == 413
    assert errors(response)[0]["code"] == "payload_too_large"
    assert api.get("/v1/integrations").status_code == 204


def test_absurd_paging_parameters_are_400(api: Api) -> None:
    for query in ("limit=0", "limit=100000", "skip=-1", "limit=abc", "skip=1e99"):
        response = api.get(f"/v1/exports?{query}")
        assert response.status_code == 400, query
        assert errors(response)[0]["code"] == "invalid_query_params"


def test_unknown_resource_type_is_400(api: Api) -> None:
    for method, path in (
        ("GET", "/v1/widgets"),
        ("GET", "/v1/widgets/" + "a" * 24),
        ("PUT", "/v1/widgets/" + "a" * 24),
        ("DELETE", "/v1/widgets/x/state"),
    ):
        response = api.request(method, path, json={})
        assert response.status_code == 400, path
        assert errors(response)[0]["code"] == "invalid_resource_type"


def test_unknown_filter_names_are_400(api: Api) -> None:
    response = api.get("/v1/exports?a.b=1")
    assert response.status_code == 400


def test_a_failed_update_changes_nothing(api: Api) -> None:
    made = sample_bodies(api)
    flow = made["flows"]
    bad = {**flow, "name": "changed", "pageProcessors": [{"type": "import", "_importId": "c" * 24}]}
    assert api.put(f"/v1/flows/{flow['_id']}", json=bad).status_code == 422
    assert api.get(f"/v1/flows/{flow['_id']}").json() == flow
    audit = api.get(f"/v1/flows/{flow['_id']}/audit").json()
    assert [a["action"] for a in audit] == ["create"]


def test_a_failed_create_leaves_nothing_behind(api: Api) -> None:
    response = api.post(
        "/v1/flows", json={"name": "f", "pageGenerators": [{"_exportId": "d" * 24}]}
    )
    assert response.status_code == 422
    assert api.get("/v1/flows").status_code == 204
    assert api.get("/v1/audit").status_code == 204


def test_bad_cron_and_timezone_are_422(api: Api) -> None:
    for field, value in (
        ("schedule", "* * * * *"),
        ("schedule", "? 99 * * * *"),
        ("timezone", "Mars/Olympus"),
    ):
        response = api.post("/v1/flows", json={"name": "f", field: value})
        assert response.status_code == 422, value
        assert errors(response)[0]["field"] == field


def test_deeply_nested_documents_are_422_not_500(api: Api) -> None:
    for depth in (100, 500, 900):
        nested = b"[" * depth + b"]" * depth
        for method, path, body in (
            ("POST", "/v1/integrations", b'{"name": "x", "settings": {"a": ' + nested + b"}}"),
            ("PUT", "/v1/state/deep", nested),
        ):
            response = api.request(
                method, path, content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code in (400, 422), (depth, path, response.text)
            errors(response)
    assert api.get("/v1/integrations").status_code == 204
