"""Python hooks in the bubblewrap sandbox: the hook contract (same names, options and return
shapes as JavaScript hooks), logs, the ``integrator_api`` module, and the sandbox as a security
boundary — each escape attempt fails with a clear ``HookError`` and the runtime serves the next
call. Processes are counted through ``/proc`` (descendants of this test process), so "nothing
left behind" is checked, not assumed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrator.hooks.base import (
    FUNCTION_NOT_FOUND,
    INVALID_RESPONSE,
    RESPONSE_TOO_LARGE,
    SANDBOX_UNAVAILABLE,
    SCRIPT_ERROR,
    SCRIPT_MEMORY,
    SCRIPT_TIMEOUT,
    ApiCallError,
    HookError,
    Invocation,
    Limits,
    Outcome,
)
from integrator.hooks.python_sandbox import UNAVAILABLE, PythonRuntime

from conftest import service_unavailable

PRE_MAP = 'def preMap(options):\n    return [{"data": d} for d in options["data"]]\n'
QUICK = Limits(timeout_seconds=10)


def call(
    runtime: PythonRuntime,
    source: str,
    options: dict[str, Any] | None = None,
    *,
    function: str = "preMap",
    tenant: str = "acme",
    key: str | None = None,
    each: list[Any] | None = None,
    api: Any = None,
    limits: Limits = QUICK,
) -> Outcome:
    invocation = Invocation(
        tenant=tenant,
        source=source,
        source_key=key or hashlib.sha256(source.encode()).hexdigest(),
        function=function,
        options={"data": [{"id": 1}]} if options is None else options,
        each=each,
        api=api,
    )
    return runtime.run(invocation, limits)


def failure(runtime: PythonRuntime, source: str, **kwargs: Any) -> HookError:
    with pytest.raises(HookError) as caught:
        call(runtime, source, **kwargs)
    return caught.value


def serves(runtime: PythonRuntime, tenant: str = "acme") -> None:
    """The runtime still answers a normal call correctly."""
    records = [{"id": 7, "name": "after"}]
    outcome = call(runtime, PRE_MAP, {"data": records}, tenant=tenant)
    assert outcome.value == [{"data": {"id": 7, "name": "after"}}]


def descendants() -> set[int]:
    """Every process below this one (a sandbox's processes are, until they are gone)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def settles_at(count: int, baseline: set[int]) -> int:
    """The number of new descendants once it reaches ``count`` (or after 5 s)."""
    deadline = time.monotonic() + 5
    while len(descendants() - baseline) != count and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(descendants() - baseline)


@pytest.fixture(scope="module")
def runtime() -> Iterator[PythonRuntime]:
    baseline = descendants()
    shared = PythonRuntime(pool_size=2)
    try:
        call(shared, PRE_MAP)
    except HookError as exc:
        if exc.code != SANDBOX_UNAVAILABLE:
            raise
        shared.close()
        service_unavailable("bubblewrap", exc)
    yield shared
    shared.close()
    assert settles_at(0, baseline) == 0


@pytest.fixture
def solo() -> Iterator[tuple[PythonRuntime, set[int]]]:
    """A runtime of one sandbox, and the processes that existed before it."""
    baseline = descendants()
    single = PythonRuntime(pool_size=1)
    serves(single)
    yield single, baseline
    single.close()
    assert settles_at(0, baseline) == 0


class FakeApi:
    """The platform API as ``Invocation.api`` sees it: records requests, answers or raises."""

    def __init__(self, error: ApiCallError | None = None) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.error = error

    def request(self, method: str, path: str, body: Any = None) -> Any:
        self.requests.append((method, path, body))
        if self.error is not None:
            raise self.error
        return {"answered": path}


# -- the hook contract ---------------------------------------------------------------------


def test_pre_map_answer_passes_through_unchanged(runtime: PythonRuntime) -> None:
    records = [
        {"id": 1, "name": "Zoë", "tags": ["a", "b"], "price": 9.5, "active": True, "note": None},
        {"id": 2, "nested": {"deep": [1, {"x": "y"}]}},
    ]
    assert call(runtime, PRE_MAP, {"data": records}).value == [{"data": r} for r in records]


def test_pre_save_page_answer_passes_through_unchanged(runtime: PythonRuntime) -> None:
    source = """
def preSavePage(options):
    keep = [r for r in options["data"] if r["id"] % 2]
    failed = [r for r in options["data"] if not r["id"] % 2]
    return {
        "data": keep,
        "errors": [{"code": "even", "message": "even id"}],
        "abort": False,
        "newErrorsAndRetryData": [{"retryData": r, "errors": [{"code": "even"}]} for r in failed],
    }
"""
    options = {"data": [{"id": 1}, {"id": 2}], "_flowId": "f1", "settings": {"k": "v"}}
    assert call(runtime, source, options, function="preSavePage").value == {
        "data": [{"id": 1}],
        "errors": [{"code": "even", "message": "even id"}],
        "abort": False,
        "newErrorsAndRetryData": [{"retryData": {"id": 2}, "errors": [{"code": "even"}]}],
    }


def test_each_calls_the_function_once_per_record_with_the_options(
    runtime: PythonRuntime,
) -> None:
    source = 'def transform(options):\n    return [options["record"]["n"] * 2, options["k"]]\n'
    outcome = call(runtime, source, {"k": "v"}, function="transform", each=[{"n": 1}, {"n": 5}])
    assert outcome.value == [[2, "v"], [10, "v"]]


@pytest.mark.parametrize("source", ["def other(options):\n    return 1\n", "preMap = 3\n"])
def test_a_missing_function_is_function_not_found(runtime: PythonRuntime, source: str) -> None:
    error = failure(runtime, source)
    assert error.code == FUNCTION_NOT_FOUND
    assert "preMap" in str(error)


def test_a_hook_that_raises_fails_with_type_and_message(runtime: PythonRuntime) -> None:
    error = failure(runtime, "def preMap(options):\n    raise ValueError('cannot map today')\n")
    assert (error.code, str(error)) == (SCRIPT_ERROR, "ValueError: cannot map today")


def test_a_script_that_does_not_compile_is_a_script_error(runtime: PythonRuntime) -> None:
    error = failure(runtime, "def preMap(options)\n    return []\n")
    assert error.code == SCRIPT_ERROR
    assert str(error).startswith("SyntaxError") and "line 1" in str(error)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("{1, 2}", "set"),
        ("object()", "object"),
        ("float('nan')", "float"),
        ("[lambda: 1]", "func"),
        ("'\\udc80'", "surrogates"),
    ],
)
def test_a_non_json_answer_is_invalid_response(
    runtime: PythonRuntime, value: str, why: str
) -> None:
    error = failure(runtime, f"def preMap(options):\n    return {value}\n")
    assert error.code == INVALID_RESPONSE
    assert why in str(error)


def test_an_answer_over_the_size_limit_is_refused(runtime: PythonRuntime) -> None:
    limits = Limits(timeout_seconds=10, max_response_bytes=1000)
    error = failure(runtime, "def preMap(options):\n    return 'x' * 2000\n", limits=limits)
    assert error.code == RESPONSE_TOO_LARGE
    assert call(runtime, "def preMap(o):\n    return 'x' * 900\n", limits=limits).value


# -- logs ----------------------------------------------------------------------------------


def test_print_and_logging_become_log_lines_with_levels(runtime: PythonRuntime) -> None:
    source = """
import logging, sys
def preMap(options):
    print("mapping", len(options["data"]), "records")
    print("to stderr", file=sys.stderr)
    logging.debug("d")
    logging.info("i")
    logging.getLogger("mine").warning("w %s", 1)
    logging.error("e")
    return []
"""
    started = time.time()
    logs = call(runtime, source).logs
    assert [(line.level, line.message) for line in logs] == [
        ("log", "mapping 1 records"),
        ("error", "to stderr"),
        ("debug", "d"),
        ("info", "i"),
        ("warn", "w 1"),
        ("error", "e"),
    ]
    assert all(started - 1 <= line.time <= time.time() + 1 for line in logs)


def test_logs_are_cut_to_the_limits_and_the_dropped_lines_counted(
    runtime: PythonRuntime,
) -> None:
    source = "def preMap(options):\n    for i in range(50):\n        print(i, 'x' * 100)\n"
    limits = Limits(timeout_seconds=10, log_lines=3, log_line_chars=10)
    logs = call(runtime, source + "    return []\n", limits=limits).logs
    assert [line.message for line in logs[:3]] == ["0 xxxxxxxx", "1 xxxxxxxx", "2 xxxxxxxx"]
    assert len(logs) == 4 and "47" in logs[3].message


def test_a_failing_hook_carries_what_it_logged(runtime: PythonRuntime) -> None:
    error = failure(runtime, "def preMap(options):\n    print('before')\n    1 / 0\n")
    assert str(error) == "ZeroDivisionError: division by zero"
    assert [line.message for line in error.logs] == ["before"]


def test_writing_to_stdout_and_stderr_fds_does_not_break_the_framing(
    runtime: PythonRuntime,
) -> None:
    source = """
import os, sys
def preMap(options):
    os.write(1, b"\\x00\\x00\\x00\\xffR garbage on fd 1")
    os.write(2, b"garbage on fd 2" * 10000)
    sys.__stdout__.write("more")
    sys.__stdout__.flush()
    print("kept")
    return [{"data": d} for d in options["data"]]
"""
    outcome = call(runtime, source)
    assert outcome.value == [{"data": {"id": 1}}]
    assert [line.message for line in outcome.logs] == ["kept"]


def test_garbage_on_the_hooks_own_channel_fails_only_that_call(runtime: PythonRuntime) -> None:
    source = "import os\ndef preMap(options):\n    os.write(3, b'Zzzzzzzzzz')\n    return []\n"
    assert failure(runtime, source).code == SCRIPT_ERROR
    serves(runtime)


# -- integrator_api ------------------------------------------------------------------------


def test_integrator_api_calls_become_platform_requests(runtime: PythonRuntime) -> None:
    source = """
from integrator_api import exports, imports, flows, connections, state
def preMap(options):
    return [
        exports.run({"_id": "e1", "listenerData": [1]}),
        imports.run({"_id": "i/1", "data": [{"a": 1}]}),
        flows.run({"_id": "f1"}),
        connections.get("c1"),
        state.get("k"),
        state.put("k", {"v": 2}),
        state.delete("k"),
    ]
"""
    api = FakeApi()
    outcome = call(runtime, source, api=api)
    assert api.requests == [
        ("POST", "/v1/exports/e1/invoke", {"listenerData": [1]}),
        ("POST", "/v1/imports/i%2F1/invoke", [{"a": 1}]),
        ("POST", "/v1/flows/f1/run", None),
        ("GET", "/v1/connections/c1", None),
        ("GET", "/v1/state/k", None),
        ("PUT", "/v1/state/k", {"v": 2}),
        ("DELETE", "/v1/state/k", None),
    ]
    assert outcome.value == [{"answered": path} for _, path, _ in api.requests]


def test_an_api_error_is_an_exception_with_status_inside_the_hook(
    runtime: PythonRuntime,
) -> None:
    api = FakeApi(ApiCallError(404, {"errors": [{"code": "nf", "message": "No such export."}]}))
    source = """
from integrator_api import exports, ApiError
def preMap(options):
    try:
        exports.run({"_id": "missing"})
    except ApiError as error:
        return [error.status, str(error)]
"""
    assert call(runtime, source, api=api).value == [404, "No such export."]
    uncaught = "import integrator_api\ndef preMap(o):\n    integrator_api.state.get('k')\n"
    assert str(failure(runtime, uncaught, api=api)) == "ApiError: No such export."


def test_without_an_api_the_module_says_it_is_not_available(runtime: PythonRuntime) -> None:
    source = "from integrator_api import state\ndef preMap(options):\n    state.get('k')\n"
    error = failure(runtime, source)
    assert str(error) == "RuntimeError: The integrator_api module is not available here."


# -- pool, cache, tenancy, threads -----------------------------------------------------------


def test_a_source_key_is_compiled_once_per_sandbox(solo: tuple[PythonRuntime, set[int]]) -> None:
    runtime, _ = solo
    first = "def preMap(options):\n    return 'first'\n"
    assert call(runtime, first, key="script-1").value == "first"
    same_key = "def preMap(options):\n    return 'edited'\n"
    assert call(runtime, same_key, key="script-1").value == "first"  # cached under its key
    assert call(runtime, same_key, key="script-1@2").value == "edited"


def test_tenants_never_share_a_sandbox(solo: tuple[PythonRuntime, set[int]]) -> None:
    runtime, _ = solo  # one sandbox for everyone: tenants must take turns, never share it
    mine = "def preMap(options):\n    return 'acme'\n"
    theirs = "def preMap(options):\n    return 'globex'\n"
    assert call(runtime, mine, tenant="acme", key="k").value == "acme"
    assert call(runtime, theirs, tenant="globex", key="k").value == "globex"
    assert call(runtime, mine, tenant="acme", key="k").value == "acme"


def test_module_state_and_monkeypatching_do_not_outlive_a_call(runtime: PythonRuntime) -> None:
    tamper = """
import builtins, json
COUNT = []
def preMap(options):
    COUNT.append(1)
    builtins.leaked = "secret"
    json.dumps = lambda *a, **k: "tampered"
    open("/tmp/left-behind", "w").write("x")
    return len(COUNT)
"""
    check = """
import builtins, json, os
def preMap(options):
    return [hasattr(builtins, "leaked"), json.dumps(1), os.listdir("/tmp")]
"""
    assert call(runtime, tamper).value == 1
    assert call(runtime, tamper).value == 1
    assert call(runtime, check).value == [False, "1", []]


def test_calls_from_many_threads_get_their_own_tenants_answers(runtime: PythonRuntime) -> None:
    tenants = ["acme", "globex", "initech"]  # three tenants, two sandboxes: they take turns
    results: dict[int, Any] = {}

    def work(n: int) -> None:
        tenant = tenants[n % 3]
        source = f"def preMap(options):\n    return [{tenant!r}, options['n']]\n"
        # One key for all: a sandbox serving two tenants would answer with the other's code.
        results[n] = call(runtime, source, {"n": n}, tenant=tenant, key="threads").value

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: [tenants[n % 3], n] for n in range(12)}


def test_without_bubblewrap_python_hooks_are_refused() -> None:
    runtime = PythonRuntime(bwrap="/nonexistent/bwrap")
    with pytest.raises(HookError) as caught:
        call(runtime, PRE_MAP)
    assert (caught.value.code, str(caught.value)) == (SANDBOX_UNAVAILABLE, UNAVAILABLE)
    runtime.close()


def test_a_sandbox_outlives_the_thread_that_first_needed_it(
    solo: tuple[PythonRuntime, set[int]],
) -> None:
    runtime, baseline = solo
    worker = threading.Thread(target=serves, args=(runtime, "globex"))
    worker.start()
    worker.join()  # bwrap --die-with-parent would follow this thread, were it bwrap's parent
    time.sleep(0.2)
    serves(runtime, "globex")
    assert settles_at(3, baseline) == 3  # bwrap, its init and the zygote: the same sandbox


# -- the sandbox as a security boundary ------------------------------------------------------


@pytest.fixture
def secret_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "integrator-home"
    home.mkdir()
    (home / "secret.key").write_text("s3cr3t")
    monkeypatch.setenv("INTEGRATOR_HOME", str(home))
    return home / "secret.key"


@pytest.fixture
def root_file() -> Iterator[Path]:
    handle, name = tempfile.mkstemp(prefix="integrator-sandbox-test-", dir=Path.home())
    os.write(handle, b"root's")
    os.close(handle)
    yield Path(name)
    os.unlink(name)


@pytest.mark.parametrize("which", ["/etc/shadow", "home", "integrator_home", "repository"])
def test_host_files_are_out_of_reach(
    runtime: PythonRuntime, which: str, secret_home: Path, root_file: Path
) -> None:
    path = {
        "home": root_file,
        "integrator_home": secret_home,
        "repository": Path(__file__).resolve(),
    }.get(which, Path(which))
    if not os.access(path, os.R_OK):
        pytest.skip(f"{path} is not readable by this test either")
    assert path.read_bytes()  # readable here, so the sandbox is what stops the hook
    error = failure(runtime, f"def preMap(options):\n    return open({str(path)!r}).read()\n")
    assert error.code == SCRIPT_ERROR
    assert str(error).startswith("FileNotFoundError")
    serves(runtime)


def test_the_visible_file_system_is_read_only_but_tmp(runtime: PythonRuntime) -> None:
    error = failure(runtime, "def preMap(options):\n    open('/usr/evil', 'w')\n")
    assert str(error).startswith("OSError: [Errno 30] Read-only file system")
    source = "import os\ndef preMap(o):\n    return sorted(os.listdir('/'))\n"
    assert call(runtime, source).value == ["bin", "dev", "lib", "lib64", "proc", "tmp", "usr"]


@pytest.mark.parametrize("port", [5432, 6379])
def test_there_is_no_network(runtime: PythonRuntime, port: int) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as exc:
        service_unavailable(f"127.0.0.1:{port}", exc)
    source = (
        f"import socket\ndef preMap(o):\n    socket.create_connection(('127.0.0.1', {port}), 2)\n"
    )
    error = failure(runtime, source)
    assert str(error).startswith("ConnectionRefusedError")
    outside = "import socket\ndef preMap(o):\n    socket.create_connection(('1.1.1.1', 53), 2)\n"
    assert "Network is unreachable" in str(failure(runtime, outside))
    serves(runtime)


def test_the_environment_holds_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEGRATOR_TEST_SECRET", "hunter2")
    fresh = PythonRuntime(pool_size=1)  # started after the secret was set
    try:
        source = "import os\ndef preMap(o):\n    return os.environ['INTEGRATOR_TEST_SECRET']\n"
        assert str(failure(fresh, source)) == "KeyError: 'INTEGRATOR_TEST_SECRET'"
        everything = "import os\ndef preMap(o):\n    return dict(os.environ)\n"
        assert set(call(fresh, everything).value) <= {
            "PATH", "LANG", "HOME", "PWD", "PYTHONDONTWRITEBYTECODE", "LC_CTYPE",
        }  # fmt: skip
        serves(fresh)
    finally:
        fresh.close()


def test_hooks_run_unprivileged(runtime: PythonRuntime) -> None:
    source = """
import os
def preMap(options):
    status = open("/proc/self/status").read()
    caps = [line.split()[1] for line in status.splitlines() if line.startswith("CapEff")]
    return [os.getuid(), caps]
"""
    uid, caps = call(runtime, source).value
    assert caps == ["0000000000000000"]
    if os.geteuid() == 0:
        assert uid == 65534


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        ("os.setuid(0)", "OSError: [Errno 22] Invalid argument"),  # no root in the namespace
        ("subprocess.run(['cat', '/etc/shadow'], check=True, capture_output=True)", "Called"),
        ("raise RuntimeError(os.system('echo escaped > /usr/escaped'))", "RuntimeError: 512"),
        (
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "    if libc.unshare(0x10000000) != 0:\n"  # CLONE_NEWUSER
            "        raise OSError(ctypes.get_errno(), 'unshare(CLONE_NEWUSER) refused')",
            "unshare(CLONE_NEWUSER) refused",
        ),
        (  # System V shared memory would hold memory outside RLIMIT_AS, past the call
            "if ctypes.CDLL(None, use_errno=True).shmget(0, 10**8, 0o1600) < 0:\n"
            "        raise OSError(ctypes.get_errno(), 'shmget refused')",
            "PermissionError: [Errno 1] shmget refused",
        ),
        (  # the kernel keyrings are per user, and all sandboxes run as one user
            "number = {'x86_64': 248, 'aarch64': 217}[os.uname().machine]\n"
            "    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    if libc.syscall(number, b'user', b'k', b'v', 1, -4) < 0:\n"
            "        raise OSError(ctypes.get_errno(), 'add_key refused')",
            "PermissionError: [Errno 1] add_key refused",
        ),
        ("ctypes.string_at(0)", "signal SIGSEGV"),
        ("os.kill(1, 9); os.kill(-1, 9)", "stopped before the hook answered"),
    ],
)
def test_escape_attempts_fail_and_the_runtime_goes_on(
    runtime: PythonRuntime, attempt: str, expected: str
) -> None:
    source = f"import ctypes, os, subprocess\ndef preMap(options):\n    {attempt}\n"
    error = failure(runtime, source)
    assert expected in str(error)
    serves(runtime)


def test_the_hook_cannot_reach_the_zygote_or_its_pipes(runtime: PythonRuntime) -> None:
    source = """
import os
def preMap(options):
    try:
        zygote = os.listdir("/proc/2/fd")
    except OSError as error:
        zygote = type(error).__name__
    return [sorted(int(fd) for fd in os.listdir("/proc/self/fd")), zygote]
"""
    fds, zygote = call(runtime, source).value
    assert fds[:5] == [0, 1, 2, 3, 4] and len(fds) <= 6  # 5: the listing's own fd
    assert zygote == "PermissionError"


def test_a_fork_bomb_is_contained_and_leaves_nothing(solo: tuple[PythonRuntime, set[int]]) -> None:
    runtime, baseline = solo
    error = failure(
        runtime, "import os\ndef preMap(options):\n    while True:\n        os.fork()\n"
    )
    assert str(error).startswith("BlockingIOError")
    assert settles_at(3, baseline) == 3  # bwrap, its init and the zygote
    serves(runtime)


def test_spawning_processes_is_contained_and_leaves_nothing(
    solo: tuple[PythonRuntime, set[int]],
) -> None:
    runtime, baseline = solo
    source = """
import subprocess
def preMap(options):
    return [subprocess.Popen(["sleep", "600"]).pid for _ in range(100)]
"""
    assert str(failure(runtime, source)).startswith("BlockingIOError")
    assert settles_at(3, baseline) == 3
    serves(runtime)


def test_a_fork_bomb_that_ignores_errors_times_out_and_leaves_nothing(
    solo: tuple[PythonRuntime, set[int]],
) -> None:
    runtime, baseline = solo
    source = """
import os
def preMap(options):
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""
    error = failure(runtime, source, limits=Limits(timeout_seconds=1))
    assert error.code == SCRIPT_TIMEOUT
    assert settles_at(0, baseline) == 0  # the sandbox was killed with all it held
    serves(runtime)


@pytest.mark.parametrize(
    "allocate",
    ["b'x' * 10**10", "grow = []\n    while True:\n        grow.append(bytearray(10**6))"],
)
def test_allocating_too_much_is_script_memory(runtime: PythonRuntime, allocate: str) -> None:
    error = failure(runtime, f"def preMap(options):\n    print('allocating')\n    {allocate}\n")
    assert (error.code, str(error)) == (
        SCRIPT_MEMORY,
        "preMap exceeded its memory limit of 256 MB.",
    )
    assert [line.message for line in error.logs] == ["allocating"]
    serves(runtime)


def test_an_endless_loop_times_out_and_the_runner_is_replaced(
    solo: tuple[PythonRuntime, set[int]],
) -> None:
    runtime, baseline = solo
    source = "def preMap(options):\n    print('looping')\n    while True:\n        pass\n"
    started = time.monotonic()
    error = failure(runtime, source, limits=Limits(timeout_seconds=1))
    assert time.monotonic() - started < 3
    assert (error.code, str(error)) == (SCRIPT_TIMEOUT, "preMap exceeded its time limit of 1 s.")
    assert [line.message for line in error.logs] == ["looping"]
    assert settles_at(0, baseline) == 0
    serves(runtime)


def test_cpu_time_is_limited_per_call(runtime: PythonRuntime) -> None:
    limits = Limits(timeout_seconds=20, cpu_seconds=1)
    source = "def preMap(options):\n    while True:\n        pass\n"
    error = failure(runtime, source, limits=limits)
    assert error.code == SCRIPT_TIMEOUT and "CPU" in str(error)
    serves(runtime)


def test_writing_a_huge_file_fails_at_the_file_size_limit(runtime: PythonRuntime) -> None:
    source = """
def preMap(options):
    with open("/tmp/huge", "wb") as f:
        for _ in range(100):
            f.write(b"x" * 10**6)
"""
    error = failure(runtime, source, limits=Limits(timeout_seconds=10, file_size_mb=2))
    assert str(error) == "OSError: [Errno 27] File too large"
    serves(runtime)
