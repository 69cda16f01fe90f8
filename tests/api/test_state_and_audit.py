"""The state API (global and per resource) and the audit log."""

from __future__ import annotations

from conftest import Api, sample_bodies


def test_global_state_round_trip(api: Api) -> None:
    assert api.get("/v1/state").json() == {"keys": []}
    assert api.get("/v1/state/counter").status_code == 404
    created = api.put("/v1/state/counter", json={"counter": 1})
    assert created.status_code == 201 and created.json() == {"counter": 1}
    replaced = api.put("/v1/state/counter", json={"counter": 2})
    assert replaced.status_code == 200
    assert api.get("/v1/state/counter").json() == {"counter": 2}
    api.put("/v1/state/list", json=[1, "two", None])
    assert api.get("/v1/state/list").json() == [1, "two", None]
    assert api.get("/v1/state").json() == {"keys": ["counter", "list"]}
    assert api.delete("/v1/state/counter").status_code == 204
    assert api.delete("/v1/state/counter").status_code == 404
    assert api.delete("/v1/state").status_code == 204
    assert api.get("/v1/state").json() == {"keys": []}


def test_resource_state_is_invisible_to_global_state(api: Api) -> None:
    made = sample_bodies(api)
    path = f"/v1/imports/{made['imports']['_id']}/state"
    assert api.put(f"{path}/sequenceNumber", json={"counter": 7}).status_code == 201
    assert api.get(f"{path}/sequenceNumber").json() == {"counter": 7}
    assert api.get(path).json() == {"keys": ["sequenceNumber"]}
    assert api.get("/v1/state").json() == {"keys": []}
    assert api.delete(path).status_code == 204
    assert api.get(path).json() == {"keys": []}


def test_state_of_a_missing_resource_is_404(api: Api) -> None:
    assert api.put(f"/v1/flows/{'e' * 24}/state/x", json=1).status_code == 404


def test_deleting_a_resource_deletes_its_state(api: Api) -> None:
    created = api.create("integrations", {"name": "i"})
    api.put(f"/v1/integrations/{created['_id']}/state/k", json="v")
    api.delete(f"/v1/integrations/{created['_id']}")
    again = api.create("integrations", {"name": "i"})
    assert api.get(f"/v1/integrations/{again['_id']}/state").json() == {"keys": []}


def test_audit_records_every_change_with_masked_secrets(api: Api) -> None:
    made = sample_bodies(api)
    connection = made["connections"]
    path = f"/v1/connections/{connection['_id']}"
    rest = {
        **connection["rest"],
        "bearerToken": "rotated-token",
        "baseURI": "https://b.example.com",
    }
    api.put(path, json={**connection, "rest": rest})
    records = api.get(f"{path}/audit").json()
    assert [r["action"] for r in records] == ["update", "create"]
    update = records[0]
    assert update["resourceType"] == "connection" and update["_resourceId"] == connection["_id"]
    assert update["byUser"]["_id"] == api.account_id and update["source"] == "api"
    changes = {c["fieldPath"]: c for c in update["fieldChanges"]}
    assert changes["rest.baseURI"]["oldValue"] == "https://shop.example.com/api"
    assert changes["rest.baseURI"]["newValue"] == "https://b.example.com"
    assert changes["rest.bearerToken"] == {
        "fieldPath": "rest.bearerToken",
        "oldValue": "******",
        "newValue": "******",
    }


def test_audit_filters(api: Api) -> None:
    made = sample_bodies(api)
    api.delete(f"/v1/templates/{made['templates']['_id']}")
    deletes = api.get("/v1/audit?action=delete").json()
    assert [(r["resourceType"], r["_resourceId"]) for r in deletes] == [
        ("template", made["templates"]["_id"])
    ]
    flows = api.get("/v1/audit?resourceType=flow").json()
    assert {r["_resourceId"] for r in flows} == {made["flows"]["_id"]}
    assert api.get("/v1/audit?resourceType=flows").json() == flows
    assert api.get("/v1/audit?from=2999-01-01T00:00:00Z").status_code == 204
    assert api.get("/v1/audit?resourceType=widget").status_code == 400
    everything = api.get("/v1/audit?limit=1000").json()
    assert len(everything) == len(made) + 1
    # A deleted resource's history stays readable.
    trail = api.get(f"/v1/templates/{made['templates']['_id']}/audit").json()
    assert [r["action"] for r in trail] == ["delete", "create"]
