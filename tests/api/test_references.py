"""References are checked on write; a resource in use cannot be deleted; dependencies show both
directions."""

from __future__ import annotations

from conftest import Api, sample_bodies


def test_unknown_reference_is_422_naming_the_field(api: Api) -> None:
    made = sample_bodies(api)
    response = api.post(
        "/v1/flows",
        json={
            "name": "f",
            "pageGenerators": [{"_exportId": made["exports"]["_id"]}],
            "pageProcessors": [{"type": "import", "_importId": "a" * 24}],
        },
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error == {
        "code": "invalid_reference",
        "message": error["message"],
        "field": "pageProcessors.0._importId",
    }


def test_reference_to_the_wrong_type_is_rejected(api: Api) -> None:
    made = sample_bodies(api)
    response = api.post(
        "/v1/exports",
        json={"name": "x", "_connectionId": made["imports"]["_id"], "rest": {"relativeURI": "/"}},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "invalid_reference"


def test_deleting_a_resource_in_use_lists_its_dependants(api: Api) -> None:
    made = sample_bodies(api)
    connection_id = made["connections"]["_id"]
    response = api.delete(f"/v1/connections/{connection_id}")
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {e["code"] for e in errors} == {"resource_in_use"}
    messages = " ".join(e["message"] for e in errors)
    assert made["exports"]["_id"] in messages and made["imports"]["_id"] in messages
    assert api.get(f"/v1/connections/{connection_id}").status_code == 200


def test_resources_can_be_deleted_once_unused(api: Api) -> None:
    made = sample_bodies(api)
    for type_ in ("flows", "exports", "imports", "connections", "integrations"):
        assert api.delete(f"/v1/{type_}/{made[type_]['_id']}").status_code == 204, type_


def test_dependencies_show_what_a_resource_uses_and_what_uses_it(api: Api) -> None:
    made = sample_bodies(api)
    export_id = made["exports"]["_id"]
    deps = api.get(f"/v1/exports/{export_id}/dependencies").json()
    assert deps["uses"]["connections"] == [
        {"_id": made["connections"]["_id"], "name": "Shop API", "paths": ["_connectionId"]}
    ]
    assert deps["usedBy"]["flows"] == [
        {
            "_id": made["flows"]["_id"],
            "name": "Customers to shop",
            "paths": ["pageGenerators.0._exportId"],
        }
    ]


def test_legacy_hook_script_ids_are_references(api: Api) -> None:
    made = sample_bodies(api)
    body = {
        "name": "x",
        "_connectionId": made["connections"]["_id"],
        "rest": {"relativeURI": "/"},
        "hooks": {"_preSavePageId": "b" * 24},
    }
    assert api.post("/v1/exports", json=body).status_code == 422
    body["hooks"]["_preSavePageId"] = made["scripts"]["_id"]
    assert api.post("/v1/exports", json=body).status_code == 201
    assert api.delete(f"/v1/scripts/{made['scripts']['_id']}").status_code == 422
