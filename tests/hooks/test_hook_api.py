"""Hooks calling back into the platform with their one-time token, over real HTTP: the API
module in JavaScript (``integrator-api``, Promises) and Python (``integrator_api``), the
token's lifetime (only during the call) and its reach (only the hook's own account)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.test_flow_runs import STRIPE, make_connection
from engine.test_flow_steps import export
from fakes import FakeSaas
from hooks.test_flow_hooks import customers_flow, run, script
from integrator.api.context import AppContext
from integrator.engine.hooks import HookContext, HookError, HookRef

from conftest import Api

COUNT_AND_REMEMBER = {
    "javascript": """
import { exports, state } from 'integrator-api';

async function preSavePage(options) {
  const found = await exports.run({_id: options.configuration.lookupId});
  await state.put('last-page', {records: options.data.length, found: found.data.length});
  return {data: options.data, errors: []};
}
""",
    "python": """
from integrator_api import exports, state

def preSavePage(options):
    found = exports.run({"_id": options["configuration"]["lookupId"]})
    state.put("last-page", {"records": len(options["data"]), "found": len(found["data"])})
    return {"data": options["data"], "errors": []}
""",
}

RETURN_TOKEN = {
    "javascript": "function leak(options) { return options.bearerToken; }",
    "python": "def leak(options):\n    return options['bearerToken']\n",
}

RUN_FOREIGN = {
    "javascript": """
import { exports } from 'integrator-api';
async function foreign(options) { return await exports.run({_id: options.exportId}); }
""",
    "python": """
from integrator_api import exports
def foreign(options):
    return exports.run({"_id": options["exportId"]})
""",
}


def test_the_api_module_invokes_exports_and_keeps_state(
    api: Api, language: str, live_api: str
) -> None:
    with FakeSaas.running(records=20, page_size=10) as fake:
        lookup = export(api, make_connection(api, fake), {"relativeURI": "/api/customers"})
        hook = {"_scriptId": script(api, language, COUNT_AND_REMEMBER[language]),
                "function": "preSavePage", "configuration": {"lookupId": lookup}}  # fmt: skip
        fake.customers[900] = {"id": 900, "email": "x@example.com", "name": "Existing"}
        flow, _, _ = customers_flow(api, fake, export_hooks={"preSavePage": hook})
        job = run(api, flow["_id"])
        assert (job["status"], job["numSuccess"]) == ("completed", 20), job
        assert api.get("/v1/state/last-page").json() == {"records": 20, "found": 1}


def test_a_token_stops_working_when_its_call_returns(
    api: Api, context: AppContext, language: str
) -> None:
    leak = script(api, language, RETURN_TOKEN[language])
    ref = HookRef(name="leak", function="leak", script_id=leak)
    token = context.hooks.call(ref, {}, HookContext(account_id=api.account_id))
    assert token.startswith("ot_")
    answer = api.client.get("/v1/tokenInfo", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


def test_a_hook_cannot_reach_another_accounts_export(
    api: Api, other_api: Api, context: AppContext, language: str, live_api: str
) -> None:
    with FakeSaas.running(records=5, page_size=5) as fake:
        theirs = export(other_api, make_connection(other_api, fake), STRIPE)
        ref = HookRef(
            name="foreign", function="foreign",
            script_id=script(api, language, RUN_FOREIGN[language]),
        )  # fmt: skip
        with pytest.raises(HookError) as raised:
            context.hooks.call(ref, {"exportId": theirs}, HookContext(account_id=api.account_id))
        assert f"No export with _id '{theirs}'" in str(raised.value)
        assert not any(r.path.startswith("/stripe") for r in fake.requests), "export ran"


def test_hook_options_carry_the_platform_fields(
    api: Api, context: AppContext, language: str
) -> None:
    source = {
        "javascript": "function echo(options) { return options; }",
        "python": "def echo(options):\n    return options\n",
    }[language]
    integration = api.create("integrations", {"name": "Shop", "settings": {"region": "eu"}})
    ref = HookRef(name="echo", function="echo", script_id=script(api, language, source))
    caller = HookContext(
        account_id=api.account_id, integration_id=integration["_id"], flow_id="f" * 24,
        job_id="j" * 24,
    )  # fmt: skip
    options: dict[str, Any] = context.hooks.call(ref, {"data": [1]}, caller)
    assert options["data"] == [1]
    assert options["settings"] == {"region": "eu"}
    assert (options["_flowId"], options["_integrationId"]) == ("f" * 24, integration["_id"])
    assert options["job"] == {"_id": "j" * 24}
    assert options["testMode"] is False
    assert options["bearerToken"].startswith("ot_")


SAVE_TOKEN = {
    "javascript": """
import { state } from 'integrator-api';
async function keep(options) {
  await state.put('kept-token', {token: options.bearerToken});
  return (await state.get('kept-token')).token === options.bearerToken;
}
""",
    "python": """
from integrator_api import state
def keep(options):
    state.put("kept-token", {"token": options["bearerToken"]})
    return state.get("kept-token")["token"] == options["bearerToken"]
""",
}


def test_a_token_used_during_its_call_is_refused_afterwards(
    api: Api, context: AppContext, language: str, live_api: str
) -> None:
    ref = HookRef(
        name="keep", function="keep", script_id=script(api, language, SAVE_TOKEN[language])
    )
    assert context.hooks.call(ref, {}, HookContext(account_id=api.account_id)) is True
    token = api.get("/v1/state/kept-token").json()["token"]
    answer = api.client.get("/v1/tokenInfo", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
