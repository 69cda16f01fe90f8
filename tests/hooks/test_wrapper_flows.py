"""Wrapper connections end to end, through the platform's hook runner: a JavaScript script
that pages out records with ``state`` until ``lastPage``, a stack whose import takes records,
and the ping endpoint that marks a wrapper connection offline."""

from __future__ import annotations

from typing import Any

from engine.test_flow_runs import make_connection
from engine.test_flow_steps import customers_import
from fakes import FakeSaas
from fakes.stack_server import FakeStack
from hooks.test_flow_hooks import run, script

from conftest import Api

PAGED_ORDERS = """
function listOrders(options) {
  const page = (options.state && options.state.page) || 0;
  const data = [];
  for (let i = 1; i <= 10; i++) {
    const id = page * 10 + i;
    data.push({id: id, name: 'Order ' + id, email: 'order' + id + '@example.com'});
  }
  return {data: data, lastPage: page === 2, state: {page: page + 1}};
}

function ping(options) {
  return options.connection.unencrypted.healthy ? {statusCode: 200}
    : {statusCode: 401, errors: [{code: 'unhealthy', message: 'The shop is down.'}]};
}
"""


def wrapper_connection(api: Api, healthy: bool, **wrapper: Any) -> dict[str, Any]:
    block = {"pingFunction": "ping", "unencrypted": {"healthy": healthy}, **wrapper}
    body = {"name": "Shop", "type": "wrapper", "wrapper": block}
    return api.create("connections", body)


def test_a_script_wrapper_exports_pages_until_the_last(api: Api) -> None:
    with FakeSaas.running(records=0) as fake:
        connection = wrapper_connection(
            api, True, _scriptId=script(api, "javascript", PAGED_ORDERS)
        )
        orders = api.create(
            "exports",
            {"name": "Orders", "_connectionId": connection["_id"],
             "wrapper": {"function": "listOrders"}},
        )  # fmt: skip
        flow = api.create(
            "flows",
            {
                "name": "Wrapped orders",
                "pageGenerators": [{"_exportId": orders["_id"]}],
                "pageProcessors": [
                    {
                        "type": "import",
                        "_importId": customers_import(api, make_connection(api, fake)),
                    }
                ],
            },
        )
        job = run(api, flow["_id"])
        assert (job["status"], job["numSuccess"]) == ("completed", 30), job
        assert sorted(c["external_id"] for c in fake.customers.values()) == list(range(1, 31))


def test_pinging_a_wrapper_connection_runs_its_ping_function(api: Api) -> None:
    source = script(api, "javascript", PAGED_ORDERS)
    healthy = wrapper_connection(api, True, _scriptId=source)
    assert api.get(f"/v1/connections/{healthy['_id']}/ping").json() == {"code": 200}
    sick = wrapper_connection(api, False, _scriptId=source)
    answer = api.get(f"/v1/connections/{sick['_id']}/ping")
    assert answer.status_code == 422
    assert "The shop is down." in answer.json()["errors"][0]["message"]
    assert api.get(f"/v1/connections/{sick['_id']}").json()["offline"] is True


def test_a_stack_wrapper_imports_the_records_of_a_flow(api: Api) -> None:
    received: list[dict[str, Any]] = []

    def import_orders(options: dict[str, Any]) -> list[dict[str, Any]]:
        received.extend(options["postMapData"])
        return [
            {"statusCode": 200, "id": f"order-{r['external_id']}"} for r in options["postMapData"]
        ]

    with FakeStack.running() as stack, FakeSaas.running(records=25, page_size=10) as fake:
        stack.register("wrappers", "importOrders", import_orders)
        stack_doc = api.create(
            "stacks",
            {"name": "Shop stack", "type": "server",
             "server": {"hostURI": stack.host_uri, "systemToken": stack.system_token}},
        )  # fmt: skip
        connection = wrapper_connection(api, True, _stackId=stack_doc["_id"])
        target = api.create(
            "imports",
            {"name": "Orders in", "_connectionId": connection["_id"],
             "wrapper": {"function": "importOrders"},
             "mapping": {"fields": [{"extract": "id", "generate": "external_id"}]}},
        )  # fmt: skip
        source = api.create(
            "exports",
            {"name": "Items", "_connectionId": make_connection(api, fake)["_id"],
             "http": {"relativeURI": "/stripe/items?limit=10", "response": {"resourcePath": "data"},
                      "paging": {"method": "relativeuri",
                                 "relativeURI": "/stripe/items?limit=10&starting_after="
                                                "{{previous_page.last_record.id}}",
                                 "lastPagePath": "has_more", "lastPageValues": ["false"]}}},
        )  # fmt: skip
        flow = api.create(
            "flows",
            {"name": "Items to the stack", "pageGenerators": [{"_exportId": source["_id"]}],
             "pageProcessors": [{"type": "import", "_importId": target["_id"]}]},
        )  # fmt: skip
        job = run(api, flow["_id"])
        assert (job["status"], job["numSuccess"]) == ("completed", 25), job
        assert sorted(r["external_id"] for r in received) == list(range(1, 26))
        calls = [c for c in stack.calls if c.function == "importOrders"]
        assert calls and all(c.type == "wrapper" for c in calls)
        assert all(c.options["bearerToken"].startswith("ot_") for c in calls)
