"""Calling extension functions on a server stack: integrator.io's ``POST /function`` protocol
against our fake stack, over real HTTP on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from fakes import FakeSaas
from fakes.stack_server import FakeStack, Raw, StackFunctionError
from integrator.engine.hooks import HookError
from integrator.hooks.stacks import StackClient


@pytest.fixture
def stack() -> Iterator[FakeStack]:
    with FakeStack.running() as running:
        yield running


@pytest.fixture
def client() -> Iterator[StackClient]:
    with StackClient() as stack_client:
        yield stack_client


def test_a_stack_function_answers_its_result_as_json(stack: FakeStack, client: StackClient) -> None:
    stack.register("hooks", "preSavePage", lambda options: {"data": options["data"][:1]})

    result = client.call(
        stack.document,
        "preSavePage",
        {"data": [{"id": 1}, {"id": 2}], "bearerToken": "one-time"},
        kind="hook",
        max_response_bytes=1000,
    )

    assert result == {"data": [{"id": 1}]}
    [call] = stack.calls
    assert call.status == 200
    assert call.headers["authorization"] == "Bearer stack-system-token"
    assert call.headers["content-type"] == "application/json"
    assert call.trace_id
    assert call.body == {
        "diy": True,
        "type": "hook",
        "function": "preSavePage",
        "maxResponseSize": 1000,
        "options": {"data": [{"id": 1}, {"id": 2}], "bearerToken": "one-time"},
    }


def test_each_call_carries_a_new_trace_id(stack: FakeStack, client: StackClient) -> None:
    stack.register("utilities", "echo", lambda options: options)

    for _ in range(3):
        assert client.call(stack.document, "echo", {"n": 1}, kind="utility") == {"n": 1}

    assert len({call.trace_id for call in stack.calls}) == 3


def test_a_connector_call_names_the_connector_instead_of_diy(
    stack: FakeStack, client: StackClient
) -> None:
    stack.register("installer", "runStep", lambda options: {"success": True}, connector_id="c1")

    result = client.call(stack.document, "runStep", {}, kind="installer", connector_id="c1")

    assert result == {"success": True}
    body = stack.calls[0].body
    assert body["_connectorId"] == "c1"
    assert "diy" not in body


def test_a_call_without_kind_runs_the_module_root_function(
    stack: FakeStack, client: StackClient
) -> None:
    stack.register(None, "hello", lambda options: "world")

    assert client.call(stack.document, "hello", {}, kind=None) == "world"
    assert "type" not in stack.calls[0].body


def test_a_function_that_returns_nothing_answers_none(
    stack: FakeStack, client: StackClient
) -> None:
    stack.register("uninstaller", "done", lambda options: Raw(200, b""))

    assert client.call(stack.document, "done", {}, kind="uninstaller") is None


def test_a_thrown_error_keeps_its_code_and_message(stack: FakeStack, client: StackClient) -> None:
    def fails(options: dict[str, Any]) -> Any:
        raise StackFunctionError("Order 17 has no customer.", code="missing_customer")

    stack.register("wrappers", "importOrders", fails)

    with pytest.raises(HookError) as raised:
        client.call(stack.document, "importOrders", {}, kind="wrapper")

    assert raised.value.code == "missing_customer"
    assert str(raised.value) == "Order 17 has no customer."
    assert stack.calls[0].status == 422


def test_an_exception_without_a_code_is_named_by_its_class(
    stack: FakeStack, client: StackClient
) -> None:
    def fails(options: dict[str, Any]) -> Any:
        raise ValueError("bad date")

    stack.register("hooks", "preMap", fails)

    with pytest.raises(HookError) as raised:
        client.call(stack.document, "preMap", {}, kind="hook")

    assert (raised.value.code, str(raised.value)) == ("ValueError", "bad date")


def test_a_422_whose_errors_have_no_code_is_a_script_error(
    stack: FakeStack, client: StackClient
) -> None:
    body = b'{"errors": [{"message": "first"}, {"message": "second"}]}'
    stack.register("hooks", "postMap", lambda options: Raw(422, body))

    with pytest.raises(HookError) as raised:
        client.call(stack.document, "postMap", {}, kind="hook")

    assert (raised.value.code, str(raised.value)) == ("script_error", "first; second")


def test_an_unknown_function_is_refused_by_the_stack(stack: FakeStack, client: StackClient) -> None:
    with pytest.raises(HookError) as raised:
        client.call(stack.document, "nowhere", {}, kind="hook")

    assert raised.value.code == "missing_function"
    assert "hooks.nowhere" in str(raised.value)


def test_a_wrong_system_token_is_refused(stack: FakeStack, client: StackClient) -> None:
    stack.register("hooks", "preMap", lambda options: [])
    document = stack.document
    document["server"]["systemToken"] = "stolen"

    with pytest.raises(HookError) as raised:
        client.call(document, "preMap", {}, kind="hook")

    assert raised.value.code == "stack_unauthorized"
    assert str(raised.value) == "The stack refused its system token."
    assert stack.calls[0].status == 401


def test_a_top_level_host_and_token_are_accepted(stack: FakeStack, client: StackClient) -> None:
    stack.register("hooks", "preMap", lambda options: [{}])
    document = {
        "type": "server",
        "hostURI": stack.host_uri + "/",
        "systemToken": "stack-system-token",
    }

    assert client.call(document, "preMap", {}, kind="hook") == [{}]


def test_a_body_that_is_not_json_is_an_invalid_response(
    stack: FakeStack, client: StackClient
) -> None:
    stack.register("hooks", "preMap", lambda options: Raw(200, b"<html>oops</html>", "text/html"))

    with pytest.raises(HookError) as raised:
        client.call(stack.document, "preMap", {}, kind="hook")

    assert raised.value.code == "invalid_response"
    assert "<html>oops</html>" in str(raised.value)


def test_a_stack_enforcing_max_response_size_reports_it(
    stack: FakeStack, client: StackClient
) -> None:
    stack.register("hooks", "big", lambda options: {"blob": "x" * 5000})

    with pytest.raises(HookError) as raised:
        client.call(stack.document, "big", {}, kind="hook", max_response_bytes=1000)

    assert raised.value.code == "response_size_exceeded"
    assert stack.calls[0].body["maxResponseSize"] == 1000


def test_a_stack_ignoring_max_response_size_is_cut_off_by_the_client(
    stack: FakeStack, client: StackClient
) -> None:
    stack.enforce_max_response_size = False
    stack.register("hooks", "big", lambda options: {"blob": "x" * 5000})

    with pytest.raises(HookError) as raised:
        client.call(stack.document, "big", {}, kind="hook", max_response_bytes=1000)

    assert raised.value.code == "response_size_exceeded"
    assert stack.calls[0].status == 200


def test_a_streamed_body_is_read_only_up_to_the_limit() -> None:
    # No Content-Length: the client must stop reading, not buffer the whole answer.
    sent = []

    def chunks() -> Iterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b"x" * 1024

    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, content=chunks()))
    stack = {"type": "server", "server": {"hostURI": "http://stack.test", "systemToken": "t"}}
    with StackClient(transport=transport) as client, pytest.raises(HookError) as raised:
        client.call(stack, "big", {}, max_response_bytes=10 * 1024)

    assert raised.value.code == "response_size_exceeded"
    assert len(sent) <= 12


def test_a_slow_function_times_out(stack: FakeStack, client: StackClient) -> None:
    stack.register("hooks", "slow", lambda options: time.sleep(2))

    started = time.monotonic()
    with pytest.raises(HookError) as raised:
        client.call(stack.document, "slow", {}, kind="hook", timeout_seconds=0.3)

    assert raised.value.code == "script_timeout"
    assert time.monotonic() - started < 1.5


def test_a_stack_that_is_down_is_unreachable(client: StackClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stack = {
        "type": "server",
        "server": {"hostURI": f"http://127.0.0.1:{port}", "systemToken": "t"},
    }

    with pytest.raises(HookError) as raised:
        client.call(stack, "preMap", {}, kind="hook")

    assert raised.value.code == "stack_unreachable"


@pytest.mark.parametrize(
    ("status", "code"), [(500, "stack_error"), (404, "stack_error"), (503, "stack_unreachable")]
)
def test_other_statuses_say_what_the_stack_answered(
    stack: FakeStack, client: StackClient, status: int, code: str
) -> None:
    stack.register(
        "hooks", "preMap", lambda options: Raw(status, b"upstream trouble", "text/plain")
    )

    with pytest.raises(HookError) as raised:
        client.call(stack.document, "preMap", {}, kind="hook")

    assert raised.value.code == code
    assert f"HTTP {status}" in str(raised.value)
    assert "upstream trouble" in str(raised.value)


def test_lambda_stacks_and_stacks_without_host_cannot_be_called(client: StackClient) -> None:
    for stack in ({"type": "lambda", "lambda": {}}, {"type": "server", "server": {}}):
        with pytest.raises(HookError) as raised:
            client.call(stack, "preMap", {})
        assert raised.value.code == "stack_unsupported"


def test_many_threads_share_one_client(stack: FakeStack, client: StackClient) -> None:
    stack.register("hooks", "double", lambda options: options["n"] * 2)
    answers: dict[int, Any] = {}

    def run(n: int) -> None:
        answers[n] = client.call(stack.document, "double", {"n": n}, kind="hook")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == {n: n * 2 for n in range(32)}


def test_a_function_can_call_back_with_its_bearer_token(
    stack: FakeStack, client: StackClient
) -> None:
    with FakeSaas.running(records=3, require_token=True) as saas:

        def count_customers(options: dict[str, Any]) -> Any:
            answer = httpx2.get(
                f"{saas.base_url}/api/customers",
                headers={"Authorization": f"Bearer {options['bearerToken']}"},
            )
            return {"status": answer.status_code}

        stack.register("hooks", "count", count_customers)
        good = client.call(stack.document, "count", {"bearerToken": "test-token"}, kind="hook")
        bad = client.call(stack.document, "count", {"bearerToken": "nope"}, kind="hook")

    assert (good, bad) == ({"status": 200}, {"status": 401})


def test_closing_twice_is_harmless() -> None:
    client = StackClient()
    client.close()
    client.close()
