"""What scripts logged (``console.log`` in JavaScript, ``print`` in Python), kept per script and
read back with ``GET /v1/scripts/{id}/logs``.

Only the newest ``MAX_LINES_PER_SCRIPT`` lines of a script are kept: each ``write`` deletes
what falls off the end, in the same transaction, with one indexed statement. The lines go when
the script is deleted (a foreign key cascade).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.orm import Session

from integrator.hooks.base import LogLine
from integrator.resources.service import iso
from integrator.store.models import ScriptLog

#: Lines kept per script; older ones are dropped as new ones come.
MAX_LINES_PER_SCRIPT = 1000
#: Characters kept of one message (runtimes cut lines shorter already; this bounds the table).
MAX_MESSAGE_CHARS = 10_000


def write(
    session: Session,
    account_id: str,
    script_id: str,
    lines: Sequence[LogLine],
    *,
    function: str | None,
    flow_id: str | None,
    job_id: str | None,
) -> None:
    """Keep ``lines`` (one call's output, in order) for the script, then drop all but the
    newest ``MAX_LINES_PER_SCRIPT`` lines of it. The script must exist (foreign key)."""
    if not lines:
        return
    session.execute(
        insert(ScriptLog),
        [
            {
                "account_id": account_id,
                "script_id": script_id,
                "time": datetime.fromtimestamp(line.time, UTC),
                "level": line.level[:16],
                "message": line.message[:MAX_MESSAGE_CHARS],
                "function": function[:200] if function else None,
                "flow_id": flow_id,
                "job_id": job_id,
            }
            for line in lines[-MAX_LINES_PER_SCRIPT:]
        ],
    )
    # The id of the newest line that no longer fits; NULL (nothing deleted) while fewer are kept.
    cutoff = (
        select(ScriptLog.id)
        .where(ScriptLog.script_id == script_id)
        .order_by(ScriptLog.id.desc())
        .offset(MAX_LINES_PER_SCRIPT)
        .limit(1)
        .scalar_subquery()
    )
    session.execute(
        delete(ScriptLog).where(ScriptLog.script_id == script_id, ScriptLog.id <= cutoff),
        execution_options={"synchronize_session": False},
    )


def read(
    db: Connection | Session,
    account_id: str,
    script_id: str,
    *,
    since: datetime | None = None,
    skip: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """A page of the script's lines, oldest first, as the API returns them::

        {"time": "2024-05-01T10:00:00.000Z", "level": "log", "message": "got 3 records",
         "function": "preSavePage", "_flowId": "...", "_jobId": "..."}

    ``since`` keeps lines logged at or after that moment.
    """
    query = select(
        ScriptLog.time,
        ScriptLog.level,
        ScriptLog.message,
        ScriptLog.function,
        ScriptLog.flow_id,
        ScriptLog.job_id,
    ).where(ScriptLog.script_id == script_id, ScriptLog.account_id == account_id)
    if since is not None:
        query = query.where(ScriptLog.time >= since)
    rows = db.execute(query.order_by(ScriptLog.id).offset(skip).limit(limit))
    return [
        {
            "time": iso(row.time),
            "level": row.level,
            "message": row.message,
            "function": row.function,
            "_flowId": row.flow_id,
            "_jobId": row.job_id,
        }
        for row in rows
    ]


def clear(session: Session, account_id: str, script_id: str) -> int:
    """Delete every line of the script; returns how many there were."""
    result = session.execute(
        delete(ScriptLog).where(
            ScriptLog.script_id == script_id, ScriptLog.account_id == account_id
        ),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0))


__all__ = ["MAX_LINES_PER_SCRIPT", "clear", "read", "write"]
