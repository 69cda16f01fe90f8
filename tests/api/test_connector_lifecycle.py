"""A connector's lifecycle (install, installer/uninstaller/settings functions, uninstall) runs
its functions on its stack: our fake stack server, over real HTTP on loopback.

The stack's functions run in the fake server's own threads. Those that call back into the API
use the suite's ``TestClient`` with the one-time ``bearerToken`` they were given: that client
is not entered as a context manager, so each request gets its own event loop portal and a
request made from the stack's thread while the test's request waits is safe. Functions only
record what they saw (lists and dicts); the assertions run in the test's thread.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fakes.stack_server import FakeStack, Raw, StackFunctionError

from conftest import Api

StackFunction = Callable[[dict[str, Any]], Any]


@pytest.fixture
def stack() -> Iterator[FakeStack]:
    with FakeStack.running() as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_connector(api: Api, stack: FakeStack, **fields: Any) -> dict[str, Any]:
    """A stack pointing at the fake server and a connector running on it, in ``api``'s account."""
    stack_doc = api.create(
        "stacks",
        {
            "name": "Connector stack",
            "type": "server",
            "server": {"hostURI": stack.host_uri, "systemToken": stack.system_token},
        },
    )
    body = {
        "name": "Shop app",
        "_stackId": stack_doc["_id"],
        "installerFunction": "installConnector",
        "uninstallerFunction": "uninstallConnector",
        **fields,
    }
    return api.create("connectors", {k: v for k, v in body.items() if v is not None})


def on(
    stack: FakeStack, connector: dict[str, Any], section: str, name: str, fn: StackFunction
) -> None:
    stack.register(section, name, fn, connector_id=connector["_id"])


def install(api: Api, stack: FakeStack, connector: dict[str, Any]) -> dict[str, Any]:
    """Install ``connector`` with an installer that does nothing; the integration."""
    on(stack, connector, "installer", "installConnector", lambda options: None)
    response = api.post(f"/v1/integrations/{connector['_id']}/install")
    assert response.status_code == 201, response.text
    integration: dict[str, Any] = response.json()
    stack.clear()
    return integration


def test_installing_creates_the_integration_and_runs_the_installer_with_a_one_time_token(
    api: Api, stack: FakeStack
) -> None:
    connector = make_connector(api, stack)
    own = api.create("scripts", {"name": "Not the connector's", "content": "function f() {}"})
    seen: dict[str, Any] = {}

    def install_connector(options: dict[str, Any]) -> None:
        token = options["bearerToken"]
        integration = f"/v1/integrations/{options['_integrationId']}"
        read = api.get(integration, headers=bearer(token))
        seen["read"] = (read.status_code, read.json())
        made = api.post(
            "/v1/scripts", json={"name": "Made by the app", "content": ""}, headers=bearer(token)
        )
        seen["made"] = (made.status_code, made.json())
        seen["own"] = api.get(f"/v1/scripts/{own['_id']}", headers=bearer(token)).status_code
        seen["lifecycle"] = api.put(
            f"{integration}/installer/installConnector", json={}, headers=bearer(token)
        ).status_code

    on(stack, connector, "installer", "installConnector", install_connector)

    response = api.post(f"/v1/integrations/{connector['_id']}/install", json={"edition": "pro"})

    assert response.status_code == 201, response.text
    integration = response.json()
    assert integration["_connectorId"] == connector["_id"]
    assert integration["mode"] == "install"
    assert integration["name"] == "Shop app"
    [call] = stack.calls
    assert (call.status, call.type, call.function) == (200, "installer", "installConnector")
    assert call.body["_connectorId"] == connector["_id"]
    options = call.options
    assert options["_integrationId"] == integration["_id"]
    assert options["_connectorId"] == connector["_id"]
    assert options["opts"] == {"edition": "pro"}
    assert options["bearerToken"].startswith("ot_")
    # During the call the token works, on the connector's resources only.
    assert seen["read"][0] == 200 and seen["read"][1]["_id"] == integration["_id"]
    assert seen["made"][0] == 201 and seen["made"][1]["_connectorId"] == connector["_id"]
    assert seen["own"] == 404
    assert seen["lifecycle"] == 403
    # Once the call returned, it does not.
    after = api.get(
        f"/v1/integrations/{integration['_id']}", headers=bearer(options["bearerToken"])
    )
    assert after.status_code == 401


@pytest.mark.parametrize(
    ("section", "kind"),
    [("installer", "installer"), ("uninstaller", "uninstaller"), ("settings", "setting")],
)
def test_a_named_function_runs_with_the_body_as_opts_and_answers_its_result(
    api: Api, stack: FakeStack, section: str, kind: str
) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)
    on(stack, connector, section, "verifyBundle", lambda o: {"success": True, "saw": o["opts"]})

    response = api.put(
        f"/v1/integrations/{integration['_id']}/{section}/verifyBundle", json={"bundle": 7}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "saw": {"bundle": 7}}
    [call] = stack.calls
    assert (call.type, call.function) == (kind, "verifyBundle")
    assert call.body["_connectorId"] == connector["_id"]
    assert call.options["_integrationId"] == integration["_id"]
    assert call.options["bearerToken"].startswith("ot_")


def test_a_function_that_returns_nothing_answers_null(api: Api, stack: FakeStack) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)
    on(stack, connector, "installer", "noop", lambda options: Raw(200, b""))

    response = api.put(f"/v1/integrations/{integration['_id']}/installer/noop")

    assert response.status_code == 200
    assert response.json() is None


def test_persist_settings_saves_what_the_connector_accepted(api: Api, stack: FakeStack) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)
    path = f"/v1/integrations/{integration['_id']}"
    current = api.get(path).json()
    assert api.put(path, json={**current, "settings": {"a": 1, "b": 1}}).status_code == 200

    def persist(options: dict[str, Any]) -> Any:
        return {"success": True, "pending": {**options["pending"], "b": 3}}

    on(stack, connector, "settings", "persistSettings", persist)

    response = api.put(f"{path}/settings/persistSettings", json={"pending": {"b": 2, "c": 2}})

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "pending": {"b": 3, "c": 2}}
    options = stack.calls[0].options
    assert options["pending"] == {"b": 2, "c": 2}
    assert options["settings"] == {"a": 1, "b": 1}
    assert api.get(path).json()["settings"] == {"a": 1, "b": 3, "c": 2}


def test_persist_settings_without_pending_in_the_answer_saves_the_pending_sent(
    api: Api, stack: FakeStack
) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)
    on(stack, connector, "settings", "persistSettings", lambda options: {"success": True})

    path = f"/v1/integrations/{integration['_id']}"
    response = api.put(f"{path}/settings/persistSettings", json={"pending": {"x": "y"}})

    assert response.status_code == 200
    assert api.get(path).json()["settings"] == {"x": "y"}


def test_persist_settings_that_does_not_succeed_saves_nothing(api: Api, stack: FakeStack) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)
    answer = {"success": False, "errors": [{"code": "bad", "message": "No."}]}
    on(stack, connector, "settings", "persistSettings", lambda options: answer)

    path = f"/v1/integrations/{integration['_id']}"
    response = api.put(f"{path}/settings/persistSettings", json={"pending": {"x": "y"}})

    assert response.status_code == 200
    assert response.json() == answer
    assert "settings" not in api.get(path).json()


def test_persist_settings_needs_pending(api: Api, stack: FakeStack) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)

    path = f"/v1/integrations/{integration['_id']}/settings/persistSettings"
    response = api.put(path, json={"changes": {}})

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "missing_required_field"
    assert stack.calls == []


def test_uninstalling_runs_the_uninstaller_then_deletes_the_installation(
    api: Api, stack: FakeStack
) -> None:
    connector = make_connector(api, stack)
    users_own = api.create("scripts", {"name": "The user's", "content": ""})
    made: dict[str, str] = {}

    def install_connector(options: dict[str, Any]) -> None:
        headers = bearer(options["bearerToken"])
        script = api.post("/v1/scripts", json={"name": "App script"}, headers=headers).json()
        stack_doc = api.post(
            "/v1/stacks",
            json={"name": "App stack", "type": "server", "server": {"hostURI": "http://x.test"}},
            headers=headers,
        ).json()
        flow = api.post(
            "/v1/flows",
            json={"name": "App flow", "_integrationId": options["_integrationId"]},
            headers=headers,
        ).json()
        made.update(scripts=script["_id"], stacks=stack_doc["_id"], flows=flow["_id"])

    seen: dict[str, Any] = {}

    def uninstall_connector(options: dict[str, Any]) -> None:
        read = api.get(
            f"/v1/integrations/{options['_integrationId']}",
            headers=bearer(options["bearerToken"]),
        )
        seen["mode"] = read.json().get("mode")

    on(stack, connector, "installer", "installConnector", install_connector)
    on(stack, connector, "uninstaller", "uninstallConnector", uninstall_connector)
    response = api.post(f"/v1/integrations/{connector['_id']}/install")
    assert response.status_code == 201, response.text
    integration = response.json()
    assert len(made) == 3, made
    stack.clear()

    response = api.delete(f"/v1/integrations/{integration['_id']}/install")

    assert response.status_code == 204, response.text
    [call] = stack.calls
    assert (call.type, call.function) == ("uninstaller", "uninstallConnector")
    assert call.options["_integrationId"] == integration["_id"]
    assert call.options["bearerToken"].startswith("ot_")
    assert seen["mode"] == "uninstall"
    assert api.get(f"/v1/integrations/{integration['_id']}").status_code == 404
    for type_, id_ in made.items():
        assert api.get(f"/v1/{type_}/{id_}").status_code == 404, type_
    assert api.get(f"/v1/scripts/{users_own['_id']}").status_code == 200
    assert api.get(f"/v1/connectors/{connector['_id']}").status_code == 200


def test_uninstalling_keeps_what_another_install_of_the_connector_may_use(
    api: Api, stack: FakeStack
) -> None:
    connector = make_connector(api, stack)
    first = install(api, stack, connector)
    second = install(api, stack, connector)
    shared = api.create(
        "scripts", {"name": "Untagged by integration", "_connectorId": connector["_id"]}
    )
    on(stack, connector, "uninstaller", "uninstallConnector", lambda options: None)

    assert api.delete(f"/v1/integrations/{first['_id']}/install").status_code == 204

    assert api.get(f"/v1/scripts/{shared['_id']}").status_code == 200
    assert api.delete(f"/v1/integrations/{second['_id']}/install").status_code == 204
    assert api.get(f"/v1/scripts/{shared['_id']}").status_code == 404


def test_a_failing_uninstaller_keeps_the_integration_in_uninstall_mode(
    api: Api, stack: FakeStack
) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)

    def refuses(options: dict[str, Any]) -> None:
        raise StackFunctionError("Orders are still syncing.", code="busy")

    on(stack, connector, "uninstaller", "uninstallConnector", refuses)

    response = api.delete(f"/v1/integrations/{integration['_id']}/install")

    assert response.status_code == 422
    assert response.json() == {"errors": [{"code": "busy", "message": "Orders are still syncing."}]}
    assert api.get(f"/v1/integrations/{integration['_id']}").json()["mode"] == "uninstall"


def test_a_connector_without_uninstaller_is_uninstalled_without_a_call(
    api: Api, stack: FakeStack
) -> None:
    connector = make_connector(api, stack, uninstallerFunction=None)
    integration = install(api, stack, connector)

    assert api.delete(f"/v1/integrations/{integration['_id']}/install").status_code == 204

    assert stack.calls == []
    assert api.get(f"/v1/integrations/{integration['_id']}").status_code == 404


def test_a_failing_installer_is_a_422_and_leaves_nothing_behind(api: Api, stack: FakeStack) -> None:
    connector = make_connector(api, stack)

    def fails(options: dict[str, Any]) -> None:
        headers = bearer(options["bearerToken"])
        api.post(
            "/v1/scripts",
            json={"name": "Half-made", "_integrationId": options["_integrationId"]},
            headers=headers,
        )
        raise StackFunctionError("The license is expired.", code="license_expired")

    on(stack, connector, "installer", "installConnector", fails)

    response = api.post(f"/v1/integrations/{connector['_id']}/install")

    assert response.status_code == 422
    assert response.json() == {
        "errors": [{"code": "license_expired", "message": "The license is expired."}]
    }
    assert api.get(f"/v1/integrations?_connectorId={connector['_id']}").status_code == 204
    assert api.get(f"/v1/scripts?_connectorId={connector['_id']}").status_code == 204


@pytest.mark.parametrize(
    ("stack_answer", "code"),
    [
        (None, "missing_function"),  # the stack has no such function
        (Raw(500, b"crashed"), "stack_error"),
        (Raw(200, b"not json"), "invalid_response"),
    ],
)
def test_what_the_stack_answers_wrongly_is_a_422_with_its_code(
    api: Api, stack: FakeStack, stack_answer: Raw | None, code: str
) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)
    if stack_answer is not None:
        on(stack, connector, "settings", "refreshMetadata", lambda options: stack_answer)

    response = api.put(f"/v1/integrations/{integration['_id']}/settings/refreshMetadata", json={})

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["code"] == code
    assert error["message"]


def test_a_stack_that_is_down_is_a_422(api: Api, stack: FakeStack) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}"
    stack_doc = {"name": "Down", "type": "server", "server": {"hostURI": down}}
    assert api.put(f"/v1/stacks/{connector['_stackId']}", json=stack_doc).status_code == 200

    response = api.put(f"/v1/integrations/{integration['_id']}/installer/anything", json={})

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "stack_unreachable"


@pytest.mark.parametrize("missing", ["_stackId", "installerFunction"])
def test_a_connector_without_stack_or_installer_cannot_be_installed(
    api: Api, stack: FakeStack, missing: str
) -> None:
    connector = make_connector(api, stack, **{missing: None})

    response = api.post(f"/v1/integrations/{connector['_id']}/install")

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == ("missing_required_field", missing)
    assert api.get("/v1/integrations").status_code == 204
    assert stack.calls == []


def test_a_published_connector_of_another_account_installs_on_its_owners_stack(
    api: Api, other_api: Api, stack: FakeStack
) -> None:
    connector = make_connector(other_api, stack, published=True)
    seen: dict[str, Any] = {}

    def install_connector(options: dict[str, Any]) -> None:
        read = api.get(
            f"/v1/integrations/{options['_integrationId']}", headers=bearer(options["bearerToken"])
        )
        seen["read"] = read.status_code

    on(stack, connector, "installer", "installConnector", install_connector)

    response = api.post(f"/v1/integrations/{connector['_id']}/install")

    assert response.status_code != 422 or "script_not_found" not in response.text, (
        "The runner did not find the connector's stack in its owner's account: "
        "ScriptHookRunner must fall back to the connector owner's stack. " + response.text
    )
    assert response.status_code == 201, response.text
    integration = response.json()
    assert integration["_connectorId"] == connector["_id"]
    assert seen["read"] == 200
    assert api.get(f"/v1/integrations/{integration['_id']}").status_code == 200
    assert other_api.get(f"/v1/integrations/{integration['_id']}").status_code == 404
    assert stack.calls[0].options["_integrationId"] == integration["_id"]


def test_an_unpublished_connector_of_another_account_does_not_exist(
    api: Api, other_api: Api, stack: FakeStack
) -> None:
    connector = make_connector(other_api, stack)

    response = api.post(f"/v1/integrations/{connector['_id']}/install")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    assert stack.calls == []


def test_an_integration_not_installed_from_a_connector_has_no_lifecycle(api: Api) -> None:
    integration = api.create("integrations", {"name": "Hand-made"})

    response = api.put(f"/v1/integrations/{integration['_id']}/settings/persistSettings", json={})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "_connectorId"
    assert api.delete(f"/v1/integrations/{integration['_id']}/install").status_code == 422


def test_another_accounts_integration_is_not_found(
    api: Api, other_api: Api, stack: FakeStack
) -> None:
    connector = make_connector(api, stack)
    integration = install(api, stack, connector)

    path = f"/v1/integrations/{integration['_id']}"
    assert other_api.put(f"{path}/installer/installConnector", json={}).status_code == 404
    assert other_api.delete(f"{path}/install").status_code == 404
    assert stack.calls == []
