"""Every request body shown in the seed documents is accepted and reads back equal
(plus server fields, with secrets masked)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from integrator.resources import REGISTRY
from integrator.resources.references import REFERENCE_FIELDS
from integrator.store import secrets
from integrator.store.crypto import Cipher

from conftest import Api, sample_bodies

SERVER_FIELDS = {"_id", "createdAt", "lastModified", "apiIdentifier"}
# The virtual export/import endpoints on connections (seed 004) run adaptors: they belong to
# the HTTP adaptor's issue and are tested there.
NOT_RESOURCE_WRITES = ("/v1/connections/{_id}/export/pages", "/v1/connections/{_id}/import")


def substitute_ids(body: Any, ids: dict[str, str]) -> Any:
    """Replace the seeds' example ids with ids of real resources of the right type."""
    if isinstance(body, dict):
        out = {}
        for key, value in body.items():
            target = REFERENCE_FIELDS.get(key)
            if target and isinstance(value, str):
                out[key] = ids[target]
            elif target and isinstance(value, list):
                out[key] = [ids[target] for _ in value]
            else:
                out[key] = substitute_ids(value, ids)
        return out
    if isinstance(body, list):
        return [substitute_ids(item, ids) for item in body]
    return body


def masked(type_: str, body: dict[str, Any]) -> dict[str, Any]:
    paths = REGISTRY[type_].secret_paths
    sealed = secrets.seal(copy.deepcopy(body), paths, Cipher(["k"]), "aad")
    return secrets.mask(sealed, paths)


def without_server_fields(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in SERVER_FIELDS}
    if isinstance(out.get("webhook"), dict) and out.get("type") == "webhook":
        # A listener's path is a server field too, shown inside its webhook block.
        path = out["webhook"].get("url")
        assert isinstance(path, str) and path.startswith("/v1/exports/"), path
        out["webhook"] = {k: v for k, v in out["webhook"].items() if k != "url"}
    return out


def test_every_seed_request_is_accepted_and_reads_back_equal(
    api: Api, seed_requests: dict[str, Any]
) -> None:
    made = sample_bodies(api)
    ids = {type_: doc["_id"] for type_, doc in made.items()}
    checked = 0
    for request in seed_requests["requests"]:
        path = request["path"].removeprefix("/v1")
        if request["path"] in NOT_RESOURCE_WRITES:
            continue
        body = substitute_ids(request["body"], ids)
        type_ = path.strip("/").split("/")[0]
        label = f"{request['seed']} {request['method']} {request['path']}"
        if request["method"] == "POST":
            response = api.post(f"/v1/{type_}", json=body)
            assert response.status_code == 201, (label, response.text)
            created = response.json()
            read = api.get(f"/v1/{type_}/{created['_id']}").json()
            assert read == created, label
            assert without_server_fields(read) == masked(type_, body), label
        else:
            kind = path.rsplit("/", 1)[1]
            target = api.create(type_, without_server_fields(made[type_]))
            response = api.put(f"/v1/{type_}/{target['_id']}/{kind}", json=body)
            assert response.status_code == 200, (label, response.text)
            read = api.get(f"/v1/{type_}/{target['_id']}/{kind}").json()
            assert {k: v for k, v in read.items() if k not in ("_id", "lastModified")} == body
        checked += 1
    assert checked == len(seed_requests["requests"]) - len(NOT_RESOURCE_WRITES)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_seed_003_mapping_dialect_is_accepted_and_normalised(
    api: Api, seed_requests: dict[str, Any], index: int
) -> None:
    example = seed_requests["mappings"][index]
    made = sample_bodies(api)
    body = {
        "name": "Mapped import",
        "_connectionId": made["connections"]["_id"],
        "rest": {"relativeURI": "/customers", "method": "POST"},
        "mapping": example["mapping"],
    }
    created = api.create("imports", body)
    mapping = created["mapping"]
    assert "fieldMapping" not in mapping
    pairs = [(f.get("extract"), f.get("generate")) for f in mapping["fields"]]
    expected = [(f.get("eField"), f.get("gField")) for f in example["mapping"]["fieldMapping"]]
    assert pairs == expected
