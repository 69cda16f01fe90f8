"""Test a wrapper connection with its ``pingFunction`` (reference §8.4).

The function gets ``{connection, _exportId|_importId, bearerToken}`` and answers
``{"statusCode": 200}`` when the connection works, or ``{"statusCode": 401, "errors":
[{"code", "message"}]}`` when it does not. Anything but ``statusCode`` 200 without errors fails
the ping, so the caller does what it does for an HTTP connection whose ping fails (the saved
connection's ping route sets it offline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrator.adaptors.http.errors import PingFailed
from integrator.adaptors.wrapper.calls import (
    WrapperError,
    connection_options,
    error_entries,
    error_text,
    wrapper_block,
    wrapper_ref,
)
from integrator.engine.hooks import Extensions, HookError

__all__ = ["ping"]


def ping(
    connection: Mapping[str, Any],
    extensions: Extensions,
    *,
    export_id: str | None = None,
    import_id: str | None = None,
) -> None:
    """None when the ping function says the connection works, else ``PingFailed`` saying why.

    A connection without ``pingFunction`` has nothing to test and passes (as an HTTP
    connection without a ping URI does). A function that throws, times out or cannot be
    reached fails the ping with that message.
    """
    function = wrapper_block(connection).get("pingFunction")
    if not function:
        return None
    try:
        ref = wrapper_ref(connection, function)
    except WrapperError as exc:
        raise PingFailed(exc.message) from exc
    options: dict[str, Any] = {"connection": connection_options(connection)}
    if export_id is not None:
        options["_exportId"] = export_id
    if import_id is not None:
        options["_importId"] = import_id
    try:
        answer = extensions.call(ref, options, kind="wrapper")
    except HookError as exc:
        raise PingFailed(f"The ping function {function} failed: {exc}") from exc
    if not isinstance(answer, Mapping):
        raise PingFailed(f"The ping function {function} must return {{statusCode, errors}}.")
    errors = error_entries(answer.get("errors"))
    status = answer.get("statusCode")
    said = f": {error_text(errors)}" if errors else "."
    if status == 401:
        raise PingFailed(f"The ping function {function} refused the credentials (401){said}")
    if errors or status != 200:
        raise PingFailed(f"The ping function {function} answered statusCode {status}{said}")
    return None
