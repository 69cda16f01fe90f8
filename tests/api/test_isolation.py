"""No request of account A can read, change, invoke or detect a resource of account B."""

from __future__ import annotations

import pytest

from integrator.resources import REGISTRY

from conftest import Api, sample_bodies

TYPES = sorted(REGISTRY)


@pytest.fixture
def owned(api: Api) -> dict[str, dict[str, object]]:
    return sample_bodies(api)


@pytest.mark.parametrize("type_", TYPES)
def test_other_account_gets_404_for_every_operation(
    api: Api, other_api: Api, owned: dict[str, dict[str, object]], type_: str
) -> None:
    doc = owned[type_]
    path = f"/v1/{type_}/{doc['_id']}"
    body = {k: v for k, v in doc.items() if k not in ("_id", "createdAt", "lastModified")}
    attempts = [
        other_api.get(path),
        other_api.put(path, json=body),
        other_api.patch(path, json=[{"op": "replace", "path": "/name", "value": "stolen"}]),
        other_api.delete(path),
        other_api.get(f"{path}/dependencies"),
        other_api.get(f"{path}/audit"),
    ]
    if type_ in ("integrations", "flows", "exports", "imports", "connections"):
        attempts += [
            other_api.get(f"{path}/state"),
            other_api.put(f"{path}/state/k", json={"v": 1}),
            other_api.get(f"{path}/state/k"),
            other_api.delete(f"{path}/state"),
        ]
    if type_ in ("exports", "imports"):
        attempts += [
            other_api.get(f"{path}/distributed"),
            other_api.put(f"{path}/distributed", json={"recordType": "x"}),
        ]
    for response in attempts:
        assert response.status_code == 404, (response.request.method, response.request.url)
        assert response.json()["errors"][0]["code"] == "not_found"
    # Nothing changed, and the 404 is the same as for an id that exists nowhere.
    assert api.get(path).json() == doc
    nowhere = other_api.get(f"/v1/{type_}/{'f' * 24}")
    assert nowhere.status_code == 404
    assert nowhere.json()["errors"][0]["code"] == other_api.get(path).json()["errors"][0]["code"]


@pytest.mark.parametrize("type_", TYPES)
def test_lists_never_show_another_accounts_resources(
    api: Api, other_api: Api, owned: dict[str, dict[str, object]], type_: str
) -> None:
    assert other_api.get(f"/v1/{type_}").status_code == 204
    listed = api.get(f"/v1/{type_}").json()
    assert [d["_id"] for d in listed] == [owned[type_]["_id"]]


def test_cannot_reference_another_accounts_resource(
    other_api: Api, owned: dict[str, dict[str, object]]
) -> None:
    response = other_api.post(
        "/v1/exports",
        json={
            "name": "x",
            "_connectionId": owned["connections"]["_id"],
            "rest": {"relativeURI": "/"},
        },
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["code"] == "invalid_reference" and error["field"] == "_connectionId"


def test_audit_and_state_are_per_account(
    api: Api, other_api: Api, owned: dict[str, dict[str, object]]
) -> None:
    api.put("/v1/state/shared-name", json={"mine": True})
    assert other_api.get("/v1/state/shared-name").status_code == 404
    assert other_api.get("/v1/state").json() == {"keys": []}
    assert other_api.get("/v1/audit").status_code == 204
    assert api.get("/v1/audit").status_code == 200
