"""Fixtures of the hook tests: the language a parametrised test runs its hook in, and the
platform's API on a real port for hooks that call back into it."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from integrator.api.app import create_app
from integrator.api.context import AppContext

from conftest import IN_CI, service_unavailable

LANGUAGES = ["javascript", "python"]


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    if request.param == "python" and shutil.which("bwrap") is None:
        service_unavailable("bubblewrap", RuntimeError("bwrap is not installed"))
        if not IN_CI:
            pytest.skip("bubblewrap is not installed")
    return str(request.param)


@pytest.fixture(scope="module")
def live_api(context: AppContext) -> Iterator[str]:
    """The platform's API on a loopback port; hooks' API calls go there."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(context), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    previous = context.hooks.api_url
    context.hooks.api_url = f"http://127.0.0.1:{port}"
    yield context.hooks.api_url
    context.hooks.api_url = previous
    server.should_exit = True
    thread.join(timeout=10)
