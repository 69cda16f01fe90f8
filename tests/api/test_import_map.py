"""``POST /v1/connections/{id}/import/map`` (seed 004): only the mapping step of a virtual
import, records returned in order with per-record errors."""

from __future__ import annotations

from typing import Any

from conftest import Api, sample_bodies

SEED_004_BODY = {
    "import": {
        "mapping": {
            "fields": [
                {"extract": "timestamp", "generate": "timestamp"},
                {"generate": "key", "hardCodedValue": "sqs_flow"},
            ]
        },
        "rest": {"relativeURI": ["/system/v1/heartbeat"], "method": ["PUT"]},
    },
    "data": [{"timestamp": 1512012818751}] * 4,
}


def test_seed_004_virtual_import_body_is_mapped(api: Api) -> None:
    connection = sample_bodies(api)["connections"]
    response = api.post(f"/v1/connections/{connection['_id']}/import/map", json=SEED_004_BODY)
    assert response.status_code == 200, response.text
    assert (
        response.json()
        == [{"statusCode": 200, "_json": {"timestamp": 1512012818751, "key": "sqs_flow"}}] * 4
    )


def test_seed_003_examples_through_the_endpoint(api: Api, seed_requests: dict[str, Any]) -> None:
    connection = sample_bodies(api)["connections"]
    for example in seed_requests["mappings"]:
        body = {"import": {"mapping": example["mapping"]}, "data": [example["source"]]}
        response = api.post(f"/v1/connections/{connection['_id']}/import/map", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == [{"statusCode": 200, "_json": example["expected"]}]


def test_failed_records_carry_errors_and_keep_their_place(api: Api) -> None:
    connection = sample_bodies(api)["connections"]
    body = {
        "import": {
            "mapping": {
                "fields": [
                    {"extract": "country", "generate": "currency", "lookupName": "currencyMap"}
                ]
            },
            "lookups": [{"name": "currencyMap", "map": {"USA": "USD"}, "allowFailures": False}],
        },
        "data": [{"country": "USA"}, {"country": "Atlantis"}, {"country": "USA"}],
    }
    results = api.post(f"/v1/connections/{connection['_id']}/import/map", json=body).json()
    assert results[0] == {"statusCode": 200, "_json": {"currency": "USD"}}
    assert results[2] == results[0]
    assert results[1]["statusCode"] == 422
    error = results[1]["errors"][0]
    assert error["source"] == "mapping" and error["field"] == "currency"
    assert {"code", "message"} <= set(error)


def test_invalid_import_or_unknown_connection_is_rejected(api: Api, other_api: Api) -> None:
    connection = sample_bodies(api)["connections"]
    path = f"/v1/connections/{connection['_id']}/import/map"
    bad = {"import": {"mapping": {"fields": [{"extract": "a"}]}}, "data": [{"a": 1}]}
    response = api.post(path, json=bad)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "import.mapping.fields.0.generate"
    assert other_api.post(path, json=SEED_004_BODY).status_code == 404
    not_records = api.post(path, json={"import": {}, "data": [1, 2]})
    assert not_records.status_code == 422


def test_deeply_nested_records_are_422(api: Api) -> None:
    connection = sample_bodies(api)["connections"]
    nested = b"[" * 300 + b"]" * 300
    body = b'{"import": {}, "data": [{"a": ' + nested + b"}]}"
    response = api.post(
        f"/v1/connections/{connection['_id']}/import/map",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
