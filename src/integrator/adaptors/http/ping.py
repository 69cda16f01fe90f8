"""Checks on a ping's answer: ``errorPath``, ``failPath``/``failValues``,
``successPath``/``successValues`` (integrator.io compares values as text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx2

from integrator.adaptors.http.errors import PingFailed
from integrator.mapping.datatypes import MISSING
from integrator.mapping.paths import compile_getter

__all__ = ["as_text", "check_ping_body", "value_at"]


def as_text(value: Any) -> str:
    """A JSON value as integrator.io compares it with ``successValues``/``failValues``."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def value_at(body: Any, path: str) -> Any:
    path = path[2:] if path.startswith("$.") else path
    return compile_getter(path)(body)


def check_ping_body(ping: Mapping[str, Any], response: httpx2.Response) -> None:
    """Apply ``errorPath``, ``failPath``/``failValues`` and ``successPath``/``successValues``."""
    paths = [ping.get(name) for name in ("errorPath", "failPath", "successPath")]
    if not any(paths):
        return
    try:
        body = response.json()
    except ValueError as exc:
        raise PingFailed("Ping response is not JSON, so its paths cannot be checked.") from exc
    error_path, fail_path, success_path = paths
    if error_path:
        error = value_at(body, str(error_path))
        if error is not MISSING and error not in (None, "", [], {}):
            raise PingFailed(f"Ping returned an error at {error_path}: {as_text(error)}")
    if fail_path:
        value = value_at(body, str(fail_path))
        fail_values = [str(v) for v in ping.get("failValues") or []]
        failed = as_text(value) in fail_values if fail_values else value not in (MISSING, None)
        if value is not MISSING and failed:
            raise PingFailed(f"Ping failed: {fail_path} is {as_text(value)!r}")
    if success_path:
        value = value_at(body, str(success_path))
        success_values = [str(v) for v in ping.get("successValues") or []]
        if value is MISSING:
            raise PingFailed(f"Ping response has no value at {success_path}")
        if success_values and as_text(value) not in success_values:
            raise PingFailed(
                f"Ping failed: {success_path} is {as_text(value)!r}, expected one of "
                f"{success_values}"
            )
        if not success_values and value in (None, False, "", 0, "false"):
            raise PingFailed(f"Ping failed: {success_path} is {as_text(value)!r}")
