"""Connection debug mode: while a connection's ``debugDate`` (or an export's or import's
``debugUntil``) is in the future, every request its adaptor sends is kept, secrets redacted,
for ``GET /v1/connections/{id}/debug[/{resourceId}]``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from integrator.adaptors.http.debuglog import DebugLog
from integrator.ids import new_object_id
from integrator.store import repository as repo


def _until(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def debug_log_for(
    connection: Mapping[str, Any],
    resource: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> DebugLog | None:
    """A log to record into when debug mode is on for this connection or resource, else None."""
    moment = now or datetime.now(UTC)
    for value in (connection.get("debugDate"), (resource or {}).get("debugUntil")):
        until = _until(value)
        if until is not None and until > moment:
            return DebugLog()
    return None


def save_debug_log(
    session: Session,
    account_id: str,
    connection_id: str,
    resource_id: str | None,
    log: DebugLog | None,
) -> None:
    """Store what ``log`` recorded (nothing when debug mode was off)."""
    if log is None:
        return
    entries = [
        (datetime.fromtimestamp(float(entry.get("time") or 0), UTC), entry)
        for entry in log.entries()
    ]
    if entries:
        repo.add_debug_entries(
            session, account_id, connection_id, resource_id, entries, new_object_id
        )
