"""JavaScript hooks in V8: integrator.io scripts run unchanged, within their limits, apart
from each other, and nothing a script does brings the process down.

The platform API is a fake ``Api`` here: it is the unit's boundary (the HTTP one is tested
with the runner)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from integrator.engine.hooks import HookError
from integrator.hooks.base import (
    FUNCTION_NOT_FOUND,
    INVALID_RESPONSE,
    RESPONSE_TOO_LARGE,
    SCRIPT_ERROR,
    SCRIPT_MEMORY,
    SCRIPT_TIMEOUT,
    ApiCallError,
    Invocation,
    Limits,
    Outcome,
)
from integrator.hooks.javascript import JavaScriptRuntime
from integrator.hooks.js_support import rewrite_modules

QUICK = Limits(timeout_seconds=1.0)


@pytest.fixture
def runtime() -> Iterator[JavaScriptRuntime]:
    js = JavaScriptRuntime()
    yield js
    js.close()


def run(
    runtime: JavaScriptRuntime,
    source: str,
    function: str = "f",
    options: dict[str, Any] | None = None,
    *,
    each: list[Any] | None = None,
    api: Any = None,
    tenant: str = "account-1",
    key: str | None = None,
    limits: Limits = QUICK,
) -> Outcome:
    invocation = Invocation(
        tenant=tenant,
        source=source,
        source_key=key or source,
        function=function,
        options=options or {},
        each=each,
        api=api,
    )
    return runtime.run(invocation, limits)


def failure(runtime: JavaScriptRuntime, source: str, **kwargs: Any) -> HookError:
    with pytest.raises(HookError) as caught:
        run(runtime, source, **kwargs)
    return caught.value


def still_works(runtime: JavaScriptRuntime, **kwargs: Any) -> None:
    assert run(runtime, "function f(o) { return o.n * 2 }", options={"n": 21}, **kwargs).value == 42


class FakeApi:
    """Records requests; answers from ``answers`` (``(method, path)`` → value or
    ``ApiCallError``), else ``{"ok": true}``."""

    def __init__(self, answers: dict[tuple[str, str], Any] | None = None, delay: float = 0) -> None:
        self.answers = answers or {}
        self.delay = delay
        self.calls: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, body: Any = None) -> Any:
        self.calls.append((method, path, body))
        time.sleep(self.delay)
        answer = self.answers.get((method, path), {"ok": True})
        if isinstance(answer, ApiCallError):
            raise answer
        return answer


# -- calling functions ------------------------------------------------------------------------


def test_a_function_gets_options_and_its_return_value_comes_back_as_json_data(
    runtime: JavaScriptRuntime,
) -> None:
    source = """
    function preSavePage(options) {
      return { data: options.data.filter((r) => r.keep), errors: [], abort: false };
    }
    """
    options = {"data": [{"id": 1, "keep": True}, {"id": 2, "keep": False}], "settings": {}}

    outcome = run(runtime, source, "preSavePage", options)

    assert outcome.value == {"data": [{"id": 1, "keep": True}], "errors": [], "abort": False}
    assert outcome.logs == []


def test_a_script_may_define_several_functions_and_the_invocation_names_one(
    runtime: JavaScriptRuntime,
) -> None:
    source = """
    function double(n) { return n * 2 }
    function preMap(options) { return options.data.map((d) => ({ data: double(d) })) }
    function postMap(options) { return options.postMapData.map((d) => ({ data: d + 1 })) }
    """

    assert run(runtime, source, "preMap", {"data": [1, 2]}).value == [{"data": 2}, {"data": 4}]
    assert run(runtime, source, "postMap", {"postMapData": [1]}).value == [{"data": 2}]


def test_a_function_the_script_does_not_define_is_function_not_found(
    runtime: JavaScriptRuntime,
) -> None:
    error = failure(runtime, "function preMap(options) { return [] }", function="postMap")

    assert error.code == FUNCTION_NOT_FOUND
    assert "postMap" in str(error)


@pytest.mark.parametrize("name", ["a.b", "f()", "x; while(true){}", ""])
def test_a_function_name_that_is_no_identifier_is_function_not_found(
    runtime: JavaScriptRuntime, name: str
) -> None:
    assert failure(runtime, "function f() { return 1 }", function=name).code == FUNCTION_NOT_FOUND


def test_a_script_is_compiled_once_per_source_key(runtime: JavaScriptRuntime) -> None:
    source = """
    globalThis.compiled = (globalThis.compiled || 0) + 1;
    function f() { return globalThis.compiled }
    """

    assert [run(runtime, source, key="script-1@1").value for _ in range(3)] == [1, 1, 1]
    assert run(runtime, source, key="script-1@2").value == 2


def test_compiled_scripts_are_bounded_and_an_evicted_one_is_compiled_again() -> None:
    runtime = JavaScriptRuntime(scripts_per_isolate=2)
    source = """
    const compilation = globalThis.compiled = (globalThis.compiled || 0) + 1;
    function f() { return compilation }
    """
    try:
        values = [run(runtime, source, key=key).value for key in ("a", "b", "a", "c", "b")]
    finally:
        runtime.close()

    assert values == [1, 2, 1, 3, 4]  # "a" stays (recently used), "b" was evicted by "c"


def test_a_syntax_error_is_a_script_error_every_time_until_the_script_is_fixed(
    runtime: JavaScriptRuntime,
) -> None:
    for _ in range(2):
        error = failure(runtime, "function f( { return 1 }", key="script@1")
        assert error.code == SCRIPT_ERROR
        assert error.args[0].startswith("SyntaxError")

    assert run(runtime, "function f() { return 1 }", key="script@2").value == 1


def test_export_date_times_are_javascript_dates(runtime: JavaScriptRuntime) -> None:
    source = """
    function f(options) {
      const last = options.lastExportDateTime;
      return [last instanceof Date, last.getUTCFullYear(),
              options.currentExportDateTime.toISOString(), typeof options.other];
    }
    """
    options = {
        "lastExportDateTime": "2024-05-01T10:00:00.000Z",
        "currentExportDateTime": "2024-06-01T10:00:00.000Z",
        "other": "2024-06-01T10:00:00.000Z",
    }

    assert run(runtime, source, options=options).value == [
        True,
        2024,
        "2024-06-01T10:00:00.000Z",
        "string",
    ]


def test_each_calls_the_function_once_per_element_with_the_record(
    runtime: JavaScriptRuntime,
) -> None:
    source = "function filter(options) { return options.record.qty > options.settings.min }"
    records = [{"qty": 1}, {"qty": 5}, {"qty": 9}]

    outcome = run(runtime, source, "filter", {"settings": {"min": 2}}, each=records)

    assert outcome.value == [False, True, True]


def test_each_answers_undefined_as_null_like_json_does(runtime: JavaScriptRuntime) -> None:
    source = "function transform(options) { if (options.record.keep) return options.record }"

    outcome = run(runtime, source, "transform", each=[{"keep": 1}, {"keep": 0}])

    assert outcome.value == [{"keep": 1}, None]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return () => 1", "returned a function"),
        ("return undefined", "returned undefined"),
        ("const a = {}; a.self = a; return a", "circular"),
        ("return { n: 10n }", "BigInt"),
    ],
)
def test_a_return_value_that_is_not_json_data_is_an_invalid_response(
    runtime: JavaScriptRuntime, body: str, message: str
) -> None:
    error = failure(runtime, f"function f() {{ {body} }}")

    assert error.code == INVALID_RESPONSE
    assert message in str(error)


def test_a_result_over_max_response_bytes_is_refused(runtime: JavaScriptRuntime) -> None:
    limits = Limits(timeout_seconds=1.0, max_response_bytes=1000)

    error = failure(runtime, "function f() { return 'é'.repeat(600) }", limits=limits)

    assert error.code == RESPONSE_TOO_LARGE
    assert "1202 bytes" in str(error)
    assert run(runtime, "function f() { return 'e'.repeat(900) }", limits=limits).value


def test_a_thrown_error_is_a_script_error_with_its_name_and_message(
    runtime: JavaScriptRuntime,
) -> None:
    type_error = failure(runtime, "function f(options) { return options.missing.field }")
    plain = failure(runtime, "function f() { throw new Error('Record 7 has no id.') }")
    thrown_string = failure(runtime, "function f() { throw 'no can do' }")

    assert type_error.code == SCRIPT_ERROR
    assert str(type_error) == "TypeError: Cannot read properties of undefined (reading 'field')"
    assert str(plain) == "Record 7 has no id."
    assert str(thrown_string) == "no can do"


def test_an_async_function_is_awaited(runtime: JavaScriptRuntime) -> None:
    source = """
    async function f(options) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return options.data.length;
    }
    """

    assert run(runtime, source, options={"data": [1, 2, 3]}).value == 3


def test_an_async_function_that_rejects_is_a_script_error(runtime: JavaScriptRuntime) -> None:
    error = failure(runtime, "async function f() { await null; throw new RangeError('late') }")

    assert error.code == SCRIPT_ERROR
    assert str(error) == "RangeError: late"


# -- limits: nothing a script does brings the process down ----------------------------------------


def test_an_endless_loop_exceeds_the_time_limit_and_the_next_call_works(
    runtime: JavaScriptRuntime,
) -> None:
    limits = Limits(timeout_seconds=0.5)
    source = "function f() { console.log('starting'); while (true) {} }"

    started = time.monotonic()
    error = failure(runtime, source, limits=limits)

    assert error.code == SCRIPT_TIMEOUT
    assert str(error) == "f exceeded its time limit of 0.5 s."
    assert time.monotonic() - started < 2
    assert [line.message for line in error.logs] == ["starting"]
    still_works(runtime)


def test_an_endless_loop_after_an_await_exceeds_the_time_limit(runtime: JavaScriptRuntime) -> None:
    error = failure(
        runtime,
        "async function f() { await null; while (true) {} }",
        limits=Limits(timeout_seconds=0.5),
    )

    assert error.code == SCRIPT_TIMEOUT
    still_works(runtime)


def test_a_promise_that_never_settles_exceeds_the_time_limit(runtime: JavaScriptRuntime) -> None:
    error = failure(
        runtime, "function f() { return new Promise(() => {}) }", limits=Limits(timeout_seconds=0.3)
    )

    assert error.code == SCRIPT_TIMEOUT


@pytest.mark.parametrize(
    "body",
    [
        "let a = []; while (true) a.push(new Array(1e6).fill(1));",
        "let a = []; while (true) a.push('x'.repeat(1e6) + a.length);",
        "await null; let a = []; while (true) a.push(new Array(1e6).fill(1));",
        # Typed arrays live outside the V8 heap: the process's growth stops them.
        "let a = []; while (true) a.push(new Uint8Array(1e8).fill(1));",
    ],
    ids=["arrays", "strings", "arrays-after-await", "typed-arrays"],
)
def test_allocating_without_end_exceeds_the_memory_limit_and_the_next_call_works(
    runtime: JavaScriptRuntime, body: str
) -> None:
    limits = Limits(timeout_seconds=20, memory_mb=64)

    error = failure(runtime, f"async function f() {{ {body} }}", limits=limits)

    assert error.code == SCRIPT_MEMORY
    assert str(error) == "f exceeded its memory limit of 64 MB."
    still_works(runtime)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return new ArrayBuffer(10 * 1024 ** 3)", "RangeError: Array buffer allocation failed"),
        ("const r = (n) => r(n + 1) + 1; return r(0)", "RangeError: Maximum call stack size"),
        ("let s = 'x'; while (true) s += s", "RangeError: Invalid string length"),
        ("return new Array(1e9).fill(1)", "RangeError: Array.prototype.fill"),
        (
            "const a = []; a[2 ** 32 - 2] = 0; return Array.prototype.fill.call(a, 1).length",
            "RangeError",
        ),
    ],
    ids=["10-GB-array-buffer", "deep-recursion", "string-doubling", "huge-fill", "sparse-fill"],
)
def test_allocations_v8_refuses_are_script_errors_and_the_next_call_works(
    runtime: JavaScriptRuntime, body: str, message: str
) -> None:
    error = failure(runtime, f"function f() {{ {body} }}", limits=Limits(timeout_seconds=5))

    assert error.code == SCRIPT_ERROR
    assert str(error).startswith(message)
    still_works(runtime)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return require('fs').readFileSync('/etc/passwd', 'utf8')", "require is not defined"),
        ("return process.env", "process is not defined"),
        ("return fetch('http://127.0.0.1/')", "fetch is not defined"),
        ("return new XMLHttpRequest()", "XMLHttpRequest is not defined"),
        ("return import('fs')", "Not supported"),
        ("return (await import('child_process')).execSync('id')", "Not supported"),
        ("return WebAssembly.Memory", "WebAssembly is not defined"),
    ],
)
def test_scripts_have_no_file_network_or_process_access(
    runtime: JavaScriptRuntime, body: str, message: str
) -> None:
    error = failure(runtime, f"async function f() {{ {body} }}")

    assert error.code == SCRIPT_ERROR
    assert message in str(error)
    still_works(runtime)


# -- tenancy and threads --------------------------------------------------------------------------


def test_tenants_never_share_globals_or_prototypes(runtime: JavaScriptRuntime) -> None:
    meddler = """
    function f() {
      Array.prototype.map = function () { return ['meddled'] };
      globalThis.secret = 'tenant 1';
      JSON.stringify = () => '"meddled"';
      return [1].map((x) => x);
    }
    """
    victim = "function f() { return [[1, 2].map((x) => x * 2), typeof secret] }"

    assert run(runtime, meddler, tenant="account-1").value == ["meddled"]
    assert run(runtime, victim, tenant="account-2").value == [[2, 4], "undefined"]


def test_scripts_of_one_tenant_may_declare_the_same_names(runtime: JavaScriptRuntime) -> None:
    first = "const rate = 2; function preMap(o) { return o.data.map((d) => ({ data: d * rate })) }"
    second = "const rate = 3; function preMap(o) { return o.data.map((d) => ({ data: d * rate })) }"

    for _ in range(2):
        assert run(runtime, first, "preMap", {"data": [1]}).value == [{"data": 2}]
        assert run(runtime, second, "preMap", {"data": [1]}).value == [{"data": 3}]


def test_calls_from_four_threads_at_once_each_get_their_own_answer(
    runtime: JavaScriptRuntime,
) -> None:
    source = """
    function f(options) {
      globalThis.calls = (globalThis.calls || 0) + 1;
      let total = 0;
      for (let i = 0; i < 20000; i++) total += i % 7;
      return { n: options.n, total, thread: options.thread };
    }
    """

    def call(n: int) -> tuple[int, Any]:
        thread = threading.get_ident()
        tenant = f"account-{n % 2}"
        outcome = run(runtime, source, options={"n": n, "thread": str(thread)}, tenant=tenant)
        return n, outcome.value

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(call, range(40)))

    assert [value["n"] for _, value in answers] == list(range(40))
    assert all(value["total"] == sum(i % 7 for i in range(20000)) for _, value in answers)


def test_a_thread_keeps_a_bounded_number_of_isolates() -> None:
    runtime = JavaScriptRuntime(isolates_per_thread=2)
    counter = "function f() { globalThis.n = (globalThis.n || 0) + 1; return globalThis.n }"
    try:
        values = [run(runtime, counter, tenant=tenant).value for tenant in "aabca"]
    finally:
        runtime.close()

    assert values == [1, 2, 1, 1, 1]  # "a" was evicted by "c" and starts afresh


def test_a_closed_runtime_refuses_calls() -> None:
    runtime = JavaScriptRuntime()
    still_works(runtime)
    runtime.close()

    with pytest.raises(RuntimeError):
        still_works(runtime)


# -- console --------------------------------------------------------------------------------------


def test_console_lines_are_kept_with_their_level_and_formatted_like_node(
    runtime: JavaScriptRuntime,
) -> None:
    source = """
    function f() {
      console.log('plain', 42, true, null, undefined);
      console.info({ a: [1, 'x'] }, ['y']);
      console.warn('%s has %d records (%j)', 'page', 3, { ok: 1 });
      console.error(new TypeError('boom').name);
      console.debug(() => 1, 5n);
      return 1;
    }
    """
    before = time.time()

    logs = run(runtime, source).logs

    assert [(line.level, line.message) for line in logs] == [
        ("log", "plain 42 true null undefined"),
        ("info", '{"a":[1,"x"]} ["y"]'),
        ("warn", 'page has 3 records ({"ok":1})'),
        ("error", "TypeError"),
        ("debug", "[Function: (anonymous)] 5n"),
    ]
    assert all(before - 1 <= line.time <= time.time() + 1 for line in logs)


def test_console_lines_beyond_the_limit_are_counted_and_long_lines_cut(
    runtime: JavaScriptRuntime,
) -> None:
    limits = Limits(timeout_seconds=1.0, log_lines=3, log_line_chars=5)
    source = "function f() { for (let i = 0; i < 10; i++) console.log('line ' + i); return 1 }"

    logs = run(runtime, source, limits=limits).logs

    assert [line.message for line in logs[:3]] == ["line ", "line ", "line "]
    assert len(logs) == 4
    assert logs[3].message.startswith("7 more log lines were dropped")


def test_an_error_carries_what_the_script_logged_before_it(runtime: JavaScriptRuntime) -> None:
    source = "function f() { console.log('checking'); console.warn({ id: 7 }); null.x }"

    error = failure(runtime, source)

    assert [(line.level, line.message) for line in error.logs] == [
        ("log", "checking"),
        ("warn", '{"id":7}'),
    ]


def test_a_cyclic_object_is_logged_without_failing(runtime: JavaScriptRuntime) -> None:
    source = "function f() { const a = { n: 1 }; a.self = a; console.log(a); return 1 }"

    assert run(runtime, source).logs[0].message == '{"n":1,"self":"[Circular]"}'


# -- modules --------------------------------------------------------------------------------------


def test_integrator_api_imports_work_as_integrator_io_writes_them(
    runtime: JavaScriptRuntime,
) -> None:
    source = """
    import { exports, imports } from 'integrator-api';
    import {flows, connections, state} from "integrator-api"
    import {
      state as store,
    } from 'integrator-api';
    import * as api from 'integrator-api';

    function f() {
      return [typeof exports.run, typeof imports.run, typeof flows.run, typeof connections.get,
              typeof state.put, store === state, api.state === state];
    }
    """

    assert run(runtime, source).value == [
        "function",
        "function",
        "function",
        "function",
        "function",
        True,
        True,
    ]


def test_another_module_is_a_clear_script_error(runtime: JavaScriptRuntime) -> None:
    error = failure(runtime, "import dayjs from 'dayjs';\nfunction f() { return dayjs() }")

    assert error.code == SCRIPT_ERROR
    assert str(error) == "module 'dayjs' is not available"


def test_rewriting_imports_keeps_line_numbers() -> None:
    source = (
        "import {\n  exports,\n  imports\n} from 'integrator-api';\nimport 'x'\nfunction f() {}\n"
    )

    rewritten = rewrite_modules(source)

    assert rewritten.count("\n") == source.count("\n")
    assert rewritten.splitlines()[0] == (
        'const { exports, imports } = __integratorModule("integrator-api");'
    )
    assert rewritten.splitlines()[4] == '__integratorModule("x");'


def test_exported_functions_are_plain_functions(runtime: JavaScriptRuntime) -> None:
    source = (
        "export function f() { return helper() }\nexport const helper = () => 5;\nexport { f };"
    )

    assert run(runtime, source).value == 5


# -- the integrator-api module --------------------------------------------------------------------


def test_the_api_functions_call_the_platform_api(runtime: JavaScriptRuntime) -> None:
    api = FakeApi(
        {("GET", "/v1/state/cursor"): {"at": 5}, ("GET", "/v1/connections/c%201"): {"_id": "c 1"}}
    )
    source = """
    import { exports, imports, flows, connections, state } from 'integrator-api';

    async function f() {
      return [
        await exports.run({ _id: 'e1', listenerData: [{ a: 1 }] }),
        await imports.run({ _id: 'i1', data: [{ a: 1 }] }),
        await flows.run({ _id: 'f1' }),
        await connections.get('c 1'),
        await state.get('cursor'),
        await state.put('cursor', { at: 6 }),
        await state.delete('cursor'),
      ];
    }
    """

    outcome = run(runtime, source, api=api)

    ok = {"ok": True}
    assert outcome.value == [ok, ok, ok, {"_id": "c 1"}, {"at": 5}, ok, ok]
    assert api.calls == [
        ("POST", "/v1/exports/e1/invoke", {"listenerData": [{"a": 1}]}),
        ("POST", "/v1/imports/i1/invoke", [{"a": 1}]),
        ("POST", "/v1/flows/f1/run", None),
        ("GET", "/v1/connections/c%201", None),
        ("GET", "/v1/state/cursor", None),
        ("PUT", "/v1/state/cursor", {"at": 6}),
        ("DELETE", "/v1/state/cursor", None),
    ]


def test_an_api_error_rejects_with_its_message_and_status(runtime: JavaScriptRuntime) -> None:
    missing = ApiCallError(404, {"errors": [{"code": "not_found", "message": "No such key."}]})
    api = FakeApi({("GET", "/v1/state/gone"): missing})
    source = """
    import { state } from 'integrator-api';
    async function f() {
      try {
        await state.get('gone');
      } catch (error) {
        return { message: error.message, status: error.status, isError: error instanceof Error };
      }
    }
    """

    assert run(runtime, source, api=api).value == {
        "message": "No such key.",
        "status": 404,
        "isError": True,
    }


def test_without_an_api_the_module_functions_reject(runtime: JavaScriptRuntime) -> None:
    source = """
    import { state } from 'integrator-api';
    async function f() { return await state.get('k') }
    """

    error = failure(runtime, source)

    assert error.code == SCRIPT_ERROR
    assert str(error) == "The integrator-api module is not available here."


def test_requests_a_script_did_not_await_still_happen_before_the_call_ends(
    runtime: JavaScriptRuntime,
) -> None:
    api = FakeApi(delay=0.05)
    source = """
    import { state } from 'integrator-api';
    function f(options) { state.put('last', options.n); return options.n }
    """

    assert run(runtime, source, options={"n": 3}, api=api).value == 3
    assert api.calls == [("PUT", "/v1/state/last", 3)]


def test_api_requests_count_against_the_time_limit(runtime: JavaScriptRuntime) -> None:
    source = """
    import { flows } from 'integrator-api';
    async function f() { return flows.run({ _id: 'x' }) }
    """

    error = failure(runtime, source, api=FakeApi(delay=2), limits=Limits(timeout_seconds=0.3))

    assert error.code == SCRIPT_TIMEOUT


def test_an_api_function_without_an_id_rejects(runtime: JavaScriptRuntime) -> None:
    source = (
        "import { exports } from 'integrator-api';\nasync function f() { return exports.run({}) }"
    )

    error = failure(runtime, source, api=FakeApi())

    assert str(error) == "TypeError: _id must be a non-empty string."


# -- pages ----------------------------------------------------------------------------------------


def test_twenty_consecutive_pages_of_a_thousand_records_all_work(
    runtime: JavaScriptRuntime,
) -> None:
    source = "function preMap(options) { return options.data.map((d) => ({ data: d })) }"

    for page in range(20):
        records = [{f"field{i}": f"{page}-{n}-{i}" for i in range(10)} for n in range(1000)]
        outcome = run(runtime, source, "preMap", {"data": records}, limits=Limits())
        assert outcome.value == [{"data": record} for record in records]
