"""Delta export windows: ``{{lastExportDateTime}}`` and ``{{currentExportDateTime}}``.

A delta export in a flow exports what changed since the last *successful* run of that flow
(reference §3.2). The window of a run is fixed when its job starts:

* ``currentExportDateTime``: the job's start (or the run's ``endDate``);
* ``lastExportDateTime``: the cutoff committed by the last successful run, minus
  ``delta.lagOffset`` milliseconds (a negative offset looks ahead); before any success,
  ``delta.startDate`` or, failing that, the Unix epoch (all history); a run's ``startDate``
  overrides both.

The cutoff (``currentExportDateTime``) is committed only when the job completes, so a failed
run leaves the old one and the next run covers its window again. ``delta.dateFormat`` (a
moment.js format) shapes both values as templates see them; without it they are ISO 8601 UTC
with milliseconds, as integrator.io sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrator.mapping.date_format import format_moment
from integrator.mapping.dates import parse_moment
from integrator.store.models import ExportCutoff

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 text (or epoch milliseconds) as an aware datetime; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    moment = parse_moment(str(value), None, "UTC")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_delta(export: Mapping[str, Any]) -> bool:
    return export.get("type") == "delta"


def window(
    session: Session,
    flow_id: str,
    export: Mapping[str, Any],
    started_at: datetime,
    options: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The raw window (ISO 8601 UTC) for this export in this run of the flow."""
    options = options or {}
    delta = export.get("delta") if isinstance(export.get("delta"), Mapping) else {}
    assert isinstance(delta, Mapping)
    end = parse_time(options.get("endDate")) or started_at
    start = parse_time(options.get("startDate"))
    if start is None:
        cutoff = session.scalar(
            select(ExportCutoff.last_export_datetime).where(
                ExportCutoff.flow_id == flow_id, ExportCutoff.export_id == export.get("_id")
            )
        )
        if cutoff is not None:
            lag = delta.get("lagOffset")
            offset = lag if isinstance(lag, int | float) and not isinstance(lag, bool) else 0
            start = cutoff - timedelta(milliseconds=offset)
        else:
            start = parse_time(delta.get("startDate")) or EPOCH
    return {"lastExportDateTime": iso_ms(start), "currentExportDateTime": iso_ms(end)}


def template_values(export: Mapping[str, Any], raw: Mapping[str, str]) -> dict[str, str]:
    """The window as templates see it: formatted with ``delta.dateFormat`` when set."""
    delta = export.get("delta") if isinstance(export.get("delta"), Mapping) else {}
    assert isinstance(delta, Mapping)
    fmt = delta.get("dateFormat")
    if not isinstance(fmt, str) or not fmt:
        return dict(raw)
    return {name: format_moment(parse_time(value) or EPOCH, fmt) for name, value in raw.items()}


def commit(session: Session, account_id: str, flow_id: str, export_id: str, cutoff: str) -> None:
    """Store ``cutoff`` as the export's new ``lastExportDateTime`` in this flow."""
    moment = parse_time(cutoff)
    if moment is None:
        return
    row = session.get(ExportCutoff, (flow_id, export_id))
    if row is None:
        session.add(
            ExportCutoff(
                flow_id=flow_id,
                export_id=export_id,
                account_id=account_id,
                last_export_datetime=moment,
            )
        )
    else:
        row.last_export_datetime = moment
