"""Wrapper connections: ping, exports and imports implemented by functions on a stack.

The functions run on our fake stack, reached over real HTTP by the real ``StackClient``; the
hook runner here only routes stack references to it and adds the one-time token, as the real
runner does (end-to-end flows with the real runner are in the flow tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fakes.stack_server import FakeStack, StackFunctionError
from integrator.adaptors.http.auth import AuthFailed
from integrator.adaptors.http.errors import PingFailed
from integrator.adaptors.http.records import PagingLimitError, PagingLoopError
from integrator.adaptors.wrapper import (
    WrapperError,
    export_pages,
    import_records,
    ping,
    wrapper_ref,
)
from integrator.engine.hooks import (
    CallKind,
    Extensions,
    HookContext,
    HookError,
    HookRef,
)
from integrator.hooks.stacks import StackClient

Options = dict[str, Any]


class StackRunner:
    """A ``HookRunner`` for stack references only: the stack protocol over real HTTP."""

    def __init__(self, client: StackClient, stacks: dict[str, dict[str, Any]]) -> None:
        self.client = client
        self.stacks = stacks
        self.calls: list[tuple[HookRef, CallKind]] = []

    def call(
        self,
        ref: HookRef,
        options: Options,
        context: HookContext,
        kind: CallKind = "hook",
        each: list[Any] | None = None,
    ) -> Any:
        assert ref.stack_id is not None and ref.function is not None and each is None
        self.calls.append((ref, kind))
        return self.client.call(
            self.stacks[ref.stack_id],
            ref.function,
            {**options, "bearerToken": "one-time-token"},
            kind=kind,
            connector_id=context.connector_id,
        )


@pytest.fixture
def stack() -> Iterator[FakeStack]:
    with FakeStack.running() as running:
        yield running


@pytest.fixture
def runner(stack: FakeStack) -> Iterator[StackRunner]:
    with StackClient() as client:
        yield StackRunner(client, {"stack-1": stack.document})


@pytest.fixture
def extensions(runner: StackRunner) -> Extensions:
    return Extensions(runner, HookContext(account_id="a1", flow_id="f1"))


CONNECTION: dict[str, Any] = {
    "_id": "conn-1",
    "type": "wrapper",
    "wrapper": {
        "_stackId": "stack-1",
        "pingFunction": "ping",
        "unencrypted": {"shop": "acme"},
        "encrypted": {"apiKey": "secret"},
    },
}
CONNECTION_OPTIONS = {
    "encrypted": {"apiKey": "secret"},
    "unencrypted": {"shop": "acme"},
    "_id": "conn-1",
}


def export_doc(**fields: Any) -> dict[str, Any]:
    return {
        "_id": "exp-1",
        "_connectionId": "conn-1",
        "wrapper": {"function": "exportOrders", "configuration": {"status": "open"}},
        **fields,
    }


def import_doc(**fields: Any) -> dict[str, Any]:
    return {
        "_id": "imp-1",
        "_connectionId": "conn-1",
        "wrapper": {"function": "importOrders", "configuration": {"mode": "upsert"}},
        **fields,
    }


# -- ping -----------------------------------------------------------------------------------------


def test_ping_passes_when_the_function_answers_200(
    stack: FakeStack, runner: StackRunner, extensions: Extensions
) -> None:
    stack.register("wrappers", "ping", lambda options: {"statusCode": 200})

    ping(CONNECTION, extensions, export_id="exp-1")

    [call] = stack.calls
    assert (call.type, call.function) == ("wrapper", "ping")
    assert call.options == {
        "connection": CONNECTION_OPTIONS,
        "_exportId": "exp-1",
        "bearerToken": "one-time-token",
    }
    assert runner.calls == [(HookRef(name="ping", function="ping", stack_id="stack-1"), "wrapper")]


def test_ping_fails_when_the_function_answers_401(stack: FakeStack, extensions: Extensions) -> None:
    stack.register(
        "wrappers",
        "ping",
        lambda options: {"statusCode": 401, "errors": [{"code": "auth", "message": "Bad key"}]},
    )

    with pytest.raises(PingFailed) as raised:
        ping(CONNECTION, extensions)

    assert "401" in raised.value.message
    assert "Bad key" in raised.value.message


def test_ping_fails_when_the_function_answers_errors(
    stack: FakeStack, extensions: Extensions
) -> None:
    stack.register(
        "wrappers",
        "ping",
        lambda options: {"statusCode": 200, "errors": [{"code": "x", "message": "Shop closed"}]},
    )

    with pytest.raises(PingFailed, match="Shop closed"):
        ping(CONNECTION, extensions)


def test_ping_fails_with_the_message_of_a_function_that_throws(
    stack: FakeStack, extensions: Extensions
) -> None:
    def fails(options: Options) -> Any:
        raise StackFunctionError("ECONNREFUSED api.shop.test", code="ECONNREFUSED")

    stack.register("wrappers", "ping", fails)

    with pytest.raises(PingFailed, match=r"ECONNREFUSED api\.shop\.test"):
        ping(CONNECTION, extensions)


def test_a_connection_without_ping_function_has_nothing_to_test(
    stack: FakeStack, extensions: Extensions
) -> None:
    connection = {**CONNECTION, "wrapper": {"_stackId": "stack-1"}}

    ping(connection, extensions)

    assert stack.calls == []


def test_a_script_wrapper_names_its_script() -> None:
    connection = {"type": "wrapper", "wrapper": {"_scriptId": "script-1"}}

    assert wrapper_ref(connection, "exportOrders") == HookRef(
        name="exportOrders", function="exportOrders", script_id="script-1"
    )
    with pytest.raises(WrapperError):
        wrapper_ref({"type": "wrapper", "wrapper": {}}, "exportOrders")


# -- exports --------------------------------------------------------------------------------------


def test_an_export_passes_state_back_until_the_last_page(
    stack: FakeStack, extensions: Extensions
) -> None:
    orders = [{"id": n} for n in range(1, 8)]

    def export_orders(options: Options) -> Any:
        start = (options.get("state") or {}).get("next", 0)
        page = orders[start : start + 3]
        more = start + 3 < len(orders)
        return {"data": page, "lastPage": not more, "state": {"next": start + 3}}

    stack.register("wrappers", "exportOrders", export_orders)

    pages = list(export_pages(export_doc(), CONNECTION, extensions))

    assert pages == [orders[0:3], orders[3:6], orders[6:7]]
    states = [call.options.get("state") for call in stack.calls]
    assert states == [None, {"next": 3}, {"next": 6}]
    first = stack.calls[0].options
    assert first["connection"] == CONNECTION_OPTIONS
    assert first["_exportId"] == "exp-1"
    assert first["configuration"] == {"status": "open"}
    assert "type" not in first
    assert first["bearerToken"] == "one-time-token"


def test_an_export_that_repeats_itself_stops_after_the_sixth_same_answer(
    stack: FakeStack, extensions: Extensions
) -> None:
    stack.register(
        "wrappers",
        "exportOrders",
        lambda options: {"data": [{"id": 1}], "lastPage": False, "state": {"page": 1}},
    )
    pages: list[Any] = []

    with pytest.raises(PagingLoopError) as raised:
        pages.extend(export_pages(export_doc(), CONNECTION, extensions))

    assert "the same response 6 times: assumed to loop" in raised.value.message
    assert len(stack.calls) == 6
    assert len(pages) == 5


def test_the_same_records_with_a_moving_state_are_not_a_loop(
    stack: FakeStack, extensions: Extensions
) -> None:
    def export_orders(options: Options) -> Any:
        page = (options.get("state") or {}).get("page", 0) + 1
        return {"data": [{"id": 1}], "lastPage": page == 8, "state": {"page": page}}

    stack.register("wrappers", "exportOrders", export_orders)

    assert len(list(export_pages(export_doc(), CONNECTION, extensions))) == 8


def test_an_export_that_never_ends_stops_at_the_page_cap(
    stack: FakeStack, extensions: Extensions
) -> None:
    def export_orders(options: Options) -> Any:
        page = (options.get("state") or {}).get("page", 0) + 1
        return {"data": [{"id": page}], "lastPage": False, "state": {"page": page}}

    stack.register("wrappers", "exportOrders", export_orders)

    with pytest.raises(PagingLimitError):
        list(export_pages(export_doc(), CONNECTION, extensions, max_pages=4))
    assert len(stack.calls) == 4


def test_connection_offline_raises_auth_failed(stack: FakeStack, extensions: Extensions) -> None:
    stack.register(
        "wrappers",
        "exportOrders",
        lambda options: {
            "connectionOffline": True,
            "errors": [{"code": "401", "message": "Token revoked"}],
        },
    )

    with pytest.raises(AuthFailed, match="Token revoked"):
        list(export_pages(export_doc(), CONNECTION, extensions))


def test_errors_in_an_answer_fail_the_export_with_their_messages(
    stack: FakeStack, extensions: Extensions
) -> None:
    stack.register(
        "wrappers",
        "exportOrders",
        lambda options: {
            "data": [{"id": 1}],
            "errors": [
                {"code": "rate", "message": "Too many requests"},
                {"code": "other", "message": "And another"},
            ],
        },
    )

    with pytest.raises(WrapperError) as raised:
        list(export_pages(export_doc(), CONNECTION, extensions))

    assert [(i.code, i.message) for i in raised.value.items] == [
        ("rate", "Too many requests"),
        ("other", "And another"),
    ]


def test_a_function_that_throws_fails_the_export(stack: FakeStack, extensions: Extensions) -> None:
    def fails(options: Options) -> Any:
        raise StackFunctionError("Shop API is down", code="shop_down")

    stack.register("wrappers", "exportOrders", fails)

    with pytest.raises(HookError) as raised:
        list(export_pages(export_doc(), CONNECTION, extensions))
    assert (raised.value.code, str(raised.value)) == ("shop_down", "Shop API is down")


def test_an_answer_with_data_that_is_not_records_fails(
    stack: FakeStack, extensions: Extensions
) -> None:
    stack.register("wrappers", "exportOrders", lambda options: {"data": [1, 2], "lastPage": True})

    with pytest.raises(WrapperError) as raised:
        list(export_pages(export_doc(), CONNECTION, extensions))
    assert raised.value.code == "invalid_records"


def test_a_delta_export_gets_the_last_run_in_epoch_milliseconds(
    stack: FakeStack, extensions: Extensions
) -> None:
    stack.register("wrappers", "exportOrders", lambda options: {"data": [], "lastPage": True})
    export = export_doc(type="delta", delta={"dateField": "updated_at"})

    pages = list(
        export_pages(
            export,
            CONNECTION,
            extensions,
            context={"lastExportDateTime": "2024-06-01T12:00:00.123Z"},
        )
    )

    assert pages == []
    options = stack.calls[0].options
    assert options["type"] == "delta"
    assert options["delta"] == {"dateField": "updated_at", "lastExecutionTime": 1717243200123}


def test_once_and_test_exports_get_their_settings(stack: FakeStack, extensions: Extensions) -> None:
    stack.register(
        "wrappers",
        "exportOrders",
        lambda options: {"data": [{"id": n} for n in range(5)], "lastPage": False},
    )

    once = export_doc(type="once", once={"booleanField": "exported"})
    stack.register(
        "wrappers", "exportOnce", lambda options: {"data": [{"id": 1}], "lastPage": True}
    )
    once["wrapper"]["function"] = "exportOnce"
    assert list(export_pages(once, CONNECTION, extensions)) == [[{"id": 1}]]
    assert stack.calls[-1].options["once"] == {"booleanField": "exported"}

    test = export_doc(type="test", test={"limit": 3})
    assert list(export_pages(test, CONNECTION, extensions)) == [[{"id": 0}, {"id": 1}, {"id": 2}]]
    assert stack.calls[-1].options["test"] == {"limit": 3}


def test_a_lookup_export_gets_the_upstream_records_as_data(
    stack: FakeStack, extensions: Extensions
) -> None:
    stack.register(
        "wrappers",
        "exportOrders",
        lambda options: {"data": [{"found": options["data"][0]["email"]}], "lastPage": True},
    )
    record = {"email": "ann@example.com"}

    pages = list(
        export_pages(
            export_doc(), CONNECTION, extensions, context={"record": record, "data": record}
        )
    )

    assert pages == [[{"found": "ann@example.com"}]]
    assert stack.calls[0].options["data"] == [record]


# -- imports --------------------------------------------------------------------------------------


def test_an_import_answers_one_result_per_record(stack: FakeStack, extensions: Extensions) -> None:
    def import_orders(options: Options) -> Any:
        results: list[dict[str, Any]] = []
        for record in options["postMapData"]:
            if record["email"] is None:
                results.append(
                    {"statusCode": 422, "errors": [{"code": "email", "message": "No email"}]}
                )
            elif record["email"].endswith("@old.test"):
                results.append({"statusCode": 200, "ignored": True})
            else:
                results.append({"statusCode": 200, "id": len(results) + 100})
        return results

    stack.register("wrappers", "importOrders", import_orders)
    records: list[dict[str, Any]] = [
        {"mail": "ann@example.com"},
        {"mail": None},
        {"mail": "bob@old.test"},
    ]
    doc = import_doc(mapping={"fields": [{"extract": "mail", "generate": "email"}]})

    results = import_records(doc, CONNECTION, records, extensions)

    assert results == [
        {"statusCode": 200, "id": "100", "_json": None, "errors": [], "ignored": False},
        {
            "statusCode": 422,
            "id": None,
            "_json": None,
            "errors": [{"code": "email", "message": "No email", "source": "application"}],
            "ignored": False,
        },
        {"statusCode": 200, "id": None, "_json": None, "errors": [], "ignored": True},
    ]
    options = stack.calls[0].options
    assert options["preMapData"] == records
    assert options["postMapData"] == [
        {"email": "ann@example.com"},
        {"email": None},
        {"email": "bob@old.test"},
    ]
    assert options["_importId"] == "imp-1"
    assert options["configuration"] == {"mode": "upsert"}
    assert options["connection"] == CONNECTION_OPTIONS


def test_records_that_fail_mapping_are_not_sent(stack: FakeStack, extensions: Extensions) -> None:
    stack.register("wrappers", "importOrders", lambda options: [{"statusCode": 200, "id": "x"}])
    doc = import_doc(
        lookups=[{"name": "currency", "map": {"USA": "USD"}, "allowFailures": False}],
        mapping={
            "fields": [{"extract": "country", "generate": "currency", "lookupName": "currency"}]
        },
    )

    results = import_records(doc, CONNECTION, [{"country": "MARS"}, {"country": "USA"}], extensions)

    assert [r["statusCode"] for r in results] == [422, 200]
    assert results[0]["errors"][0]["code"] == "lookup_failed"
    assert stack.calls[0].options["postMapData"] == [{"currency": "USD"}]


def test_the_post_map_hook_sees_the_mapped_records_first(
    stack: FakeStack, extensions: Extensions
) -> None:
    stack.register(
        "wrappers",
        "importOrders",
        lambda options: [{"statusCode": 200, "id": r["n"]} for r in options["postMapData"]],
    )

    def post_map(
        pre: list[dict[str, Any]], post: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any] | None, list[dict[str, Any]], bool]]:
        return [({**post[0], "n": 1}, [], False), (None, [], True)]

    results = import_records(
        import_doc(), CONNECTION, [{"n": 0}, {"n": 0}], extensions, post_map=post_map
    )

    assert [(r["id"], r["ignored"]) for r in results] == [("1", False), (None, True)]
    assert stack.calls[0].options["postMapData"] == [{"n": 1}]


def test_an_answer_of_the_wrong_length_fails_the_page(
    stack: FakeStack, extensions: Extensions
) -> None:
    stack.register("wrappers", "importOrders", lambda options: [{"statusCode": 200}])

    with pytest.raises(WrapperError) as raised:
        import_records(import_doc(), CONNECTION, [{"a": 1}, {"a": 2}], extensions)

    assert raised.value.code == "invalid_response"
    assert "returned 1 results for 2 records" in raised.value.message


def test_a_401_for_a_record_sets_the_connection_offline(
    stack: FakeStack, extensions: Extensions
) -> None:
    stack.register(
        "wrappers",
        "importOrders",
        lambda options: [
            {"statusCode": 200, "id": "1"},
            {"statusCode": 401, "errors": [{"code": "auth", "message": "Key expired"}]},
        ],
    )

    with pytest.raises(AuthFailed, match="Key expired"):
        import_records(import_doc(), CONNECTION, [{"a": 1}, {"a": 2}], extensions)


def test_an_import_without_function_is_refused(extensions: Extensions) -> None:
    with pytest.raises(WrapperError) as raised:
        import_records({"_id": "imp-1", "wrapper": {}}, CONNECTION, [{"a": 1}], extensions)
    assert raised.value.code == "wrapper_misconfigured"
