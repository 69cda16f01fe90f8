"""The API conventions of integrator.io: codes, server fields, full-replace PUT, JSON Patch,
paging with Link headers, filters and projections, and the unprefixed alias."""

from __future__ import annotations

import re

from integrator.ids import is_object_id

from conftest import Api, sample_bodies


def test_create_returns_201_with_server_fields(api: Api) -> None:
    created = api.create("integrations", {"name": "Orders", "description": "d"})
    assert is_object_id(created["_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["createdAt"])
    assert created["lastModified"] == created["createdAt"]
    assert created["name"] == "Orders" and created["description"] == "d"


def test_get_returns_what_create_returned(api: Api) -> None:
    created = api.create("integrations", {"name": "Orders", "settings": {"a": [1, {"b": None}]}})
    response = api.get(f"/v1/integrations/{created['_id']}")
    assert response.status_code == 200
    assert response.json() == created


def test_client_cannot_set_server_owned_fields(api: Api) -> None:
    created = api.create(
        "integrations",
        {
            "name": "x",
            "_id": "0" * 24,
            "createdAt": "1999-01-01T00:00:00.000Z",
            "lastModified": "x",
        },
    )
    assert created["_id"] != "0" * 24
    assert created["createdAt"] != "1999-01-01T00:00:00.000Z"


def test_put_replaces_the_whole_document(api: Api) -> None:
    created = api.create("integrations", {"name": "Orders", "description": "old", "readme": "r"})
    response = api.put(f"/v1/integrations/{created['_id']}", json={"name": "Orders 2"})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Orders 2"
    assert "description" not in body and "readme" not in body
    assert body["createdAt"] == created["createdAt"]
    assert body["lastModified"] >= created["lastModified"]


def test_put_ignores_a_stale_last_modified(api: Api) -> None:
    created = api.create("integrations", {"name": "a"})
    stale = {**created, "name": "b", "lastModified": "2001-01-01T00:00:00.000Z"}
    body = api.put(f"/v1/integrations/{created['_id']}", json=stale).json()
    assert body["name"] == "b" and body["lastModified"] != "2001-01-01T00:00:00.000Z"


def test_delete_returns_204_then_404(api: Api) -> None:
    created = api.create("integrations", {"name": "a"})
    assert api.delete(f"/v1/integrations/{created['_id']}").status_code == 204
    response = api.get(f"/v1/integrations/{created['_id']}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_empty_list_is_204_with_no_body(api: Api) -> None:
    response = api.get("/v1/templates")
    assert response.status_code == 204
    assert response.content == b""


def test_list_pages_with_skip_limit_and_a_link_header(api: Api) -> None:
    ids = [api.create("templates", {"name": f"t{i}"})["_id"] for i in range(5)]
    seen: list[str] = []
    url = "/v1/templates?limit=2"
    pages = 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += [doc["_id"] for doc in response.json()]
        pages += 1
        link = response.headers.get("link")
        if link is None:
            break
        match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert match, link
        url = match.group(1)
    assert seen == ids
    assert pages == 3


def test_list_filters_on_top_level_fields(api: Api) -> None:
    made = sample_bodies(api)
    api.create(
        "connections",
        {"name": "FTP", "type": "ftp", "ftp": {"hostURI": "ftp.example.com", "password": "pw"}},
    )
    rest_only = api.get("/v1/connections?type=rest").json()
    assert [c["_id"] for c in rest_only] == [made["connections"]["_id"]]
    by_connection = api.get(f"/v1/exports?_connectionId={made['connections']['_id']}").json()
    assert [e["_id"] for e in by_connection] == [made["exports"]["_id"]]
    assert api.get("/v1/connections?name=nothing").status_code == 204


def test_list_projection_include_and_exclude(api: Api) -> None:
    api.create("integrations", {"name": "a", "description": "d", "settings": {"x": 1, "y": 2}})
    included = api.get("/v1/integrations?include=name,settings.x").json()
    assert set(included[0]) == {"_id", "name", "settings"}
    assert included[0]["settings"] == {"x": 1}
    excluded = api.get("/v1/integrations?exclude=description").json()
    assert "description" not in excluded[0] and excluded[0]["name"] == "a"
    both = api.get("/v1/integrations?include=name&exclude=description")
    assert both.status_code == 400
    assert both.json()["errors"][0]["code"] == "invalid_query_params"


def test_patch_applies_a_json_patch_and_returns_204(api: Api) -> None:
    made = sample_bodies(api)
    flow_id = made["flows"]["_id"]
    response = api.patch(
        f"/v1/flows/{flow_id}",
        json=[
            {"op": "replace", "path": "/name", "value": "Renamed"},
            {"op": "add", "path": "/disabled", "value": True},
        ],
    )
    assert response.status_code == 204, response.text
    body = api.get(f"/v1/flows/{flow_id}").json()
    assert body["name"] == "Renamed" and body["disabled"] is True
    assert body["pageGenerators"] == made["flows"]["pageGenerators"]


def test_patch_rejects_server_fields_and_bad_pointers(api: Api) -> None:
    made = sample_bodies(api)
    flow_id = made["flows"]["_id"]
    server = api.patch(
        f"/v1/flows/{flow_id}", json=[{"op": "replace", "path": "/_id", "value": "x"}]
    )
    assert server.status_code == 422
    missing = api.patch(f"/v1/flows/{flow_id}", json=[{"op": "remove", "path": "/nothing"}])
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["code"] == "invalid_patch"
    invalid = api.patch(
        f"/v1/flows/{flow_id}", json=[{"op": "replace", "path": "/schedule", "value": "nope"}]
    )
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "schedule"
    assert api.get(f"/v1/flows/{flow_id}").json() == made["flows"]


def test_exports_and_imports_get_an_immutable_api_identifier(api: Api) -> None:
    made = sample_bodies(api)
    export, import_ = made["exports"], made["imports"]
    assert re.fullmatch(r"e[0-9a-f]{10}", export["apiIdentifier"])
    assert re.fullmatch(r"i[0-9a-f]{10}", import_["apiIdentifier"])
    same = api.put(f"/v1/exports/{export['_id']}", json={**export, "name": "n"})
    assert same.status_code == 200 and same.json()["apiIdentifier"] == export["apiIdentifier"]
    without = api.put(
        f"/v1/exports/{export['_id']}",
        json={k: v for k, v in export.items() if k != "apiIdentifier"},
    )
    assert without.json()["apiIdentifier"] == export["apiIdentifier"]
    changed = api.put(f"/v1/exports/{export['_id']}", json={**export, "apiIdentifier": "e00"})
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "apiIdentifier"


def test_routes_answer_without_the_v1_prefix(api: Api) -> None:
    created = api.create("integrations", {"name": "a"})
    response = api.get(f"/integrations/{created['_id']}")
    assert response.status_code == 200 and response.json() == created
    assert api.get("/tokenInfo").status_code == 200


def test_distributed_component_of_exports_and_imports(api: Api) -> None:
    made = sample_bodies(api)
    for type_ in ("exports", "imports"):
        rid = made[type_]["_id"]
        assert api.get(f"/v1/{type_}/{rid}/distributed").status_code == 404
        body = {"recordType": "salesorder", "executionContext": ["userinterface"]}
        put = api.put(f"/v1/{type_}/{rid}/distributed", json=body)
        assert put.status_code == 200, put.text
        got = api.get(f"/v1/{type_}/{rid}/distributed").json()
        assert {k: got[k] for k in body} == body and got["_id"] == rid
