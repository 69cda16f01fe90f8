"""integrator.io flow schedules: 6-field cron with a leading seconds slot, in a flow's time zone.

A schedule reads ``"? minute hour day-of-month month day-of-week"`` (reference §5), e.g.
``"? 0 2 ? * *"`` (02:00 daily), ``"? */5 * * * *"`` (every five minutes) or
``"? 5 0,6,12,18 ? * *"``. The seconds slot is always ``?`` (``0`` is accepted too), so nothing
runs more often than once a minute. ``?`` in the day fields means "any day", as in Quartz.
Day-of-week follows Unix cron: 0 or 7 is Sunday; names such as ``MON-FRI`` also work.

Time zones (``next_run``): a schedule names wall-clock times in the flow's zone.
- When clocks go forward, a time in the skipped hour runs that many minutes later
  (``"? 30 2 * * *"`` runs at 03:30 on that day in America/New_York), so a daily run still
  happens once.
- When clocks go back, a time in the repeated hour runs once, at its first occurrence, unless
  the hour field starts with ``*`` (``"? */5 * * * *"``): such schedules track elapsed time and
  run in both occurrences of the hour, as Vixie cron does for its "wildcard" jobs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

_NUMBER = r"\d+"
_NAME = r"\d+|[A-Za-z]{3}"
_ITEM = r"(?:\*|(?:{v})(?:-(?:{v}))?)(?:/\d+)?"
_FIELD = "^{item}(?:,{item})*$"

#: Allowed shape of each of the five Unix fields (names only for month and day-of-week);
#: croniter then checks the ranges. ``L``, ``W``, ``#`` and ``H`` are not part of the format.
_SHAPES = [
    re.compile(_FIELD.format(item=_ITEM.format(v=value)))
    for value in (_NUMBER, _NUMBER, _NUMBER, _NAME, _NAME)
]
_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
#: A clock change this close after ``after`` can reorder wall-clock times (DST shifts are <= 2h).
_CHANGE_WINDOW = timedelta(hours=6)
#: Enough steps to walk an every-minute schedule across a two-hour shift, twice.
_MAX_STEPS = 1000


def parse_schedule(text: str) -> str:
    """The 5-field croniter expression for an integrator.io schedule; ``ValueError`` if invalid.

    >>> parse_schedule("? 0 2 ? * *")
    '0 2 * * *'
    """
    if not isinstance(text, str):
        raise ValueError("Invalid cron expression: a schedule is a string.")
    parts = text.split()
    if len(parts) != 6:
        raise ValueError(
            f"Invalid cron expression {text!r}: expected 6 fields "
            "'? minute hour day-of-month month day-of-week'."
        )
    seconds, *unix = parts
    if seconds not in ("?", "0"):
        raise ValueError(
            f"Invalid cron expression {text!r}: the first (seconds) field must be '?'; "
            "schedules run at most once a minute."
        )
    for index in (2, 4):  # "?" means "any day" in the two day fields only
        if unix[index] == "?":
            unix[index] = "*"
    for name, shape, value in zip(_FIELD_NAMES, _SHAPES, unix, strict=True):
        if not shape.match(value):
            raise ValueError(f"Invalid cron expression {text!r}: bad {name} field {value!r}.")
    expression = " ".join(unix)
    if not croniter.is_valid(expression):
        raise ValueError(f"Invalid cron expression {text!r}: a field is out of range.")
    try:  # "? 0 0 31 2 *" is well-formed but names no real day
        croniter(expression, datetime(2000, 1, 1), max_years_between_matches=8).get_next(datetime)
    except CroniterError as exc:
        raise ValueError(f"Invalid cron expression {text!r}: it never runs.") from exc
    return expression


def next_run(text: str, tz: str, after: datetime) -> datetime:
    """The first run of schedule ``text`` strictly after ``after``, as an aware UTC datetime.

    ``after`` must be timezone-aware. See the module docstring for daylight-saving rules.
    Raises ``ValueError`` for an invalid schedule and ``ZoneInfoNotFoundError`` for an unknown
    zone.

    The schedule is walked in naive wall-clock time and each match placed on the timeline.
    Near a clock change a later wall time can be an earlier instant (the repeated hour), so
    there the walk starts ``slack`` before ``after`` and goes on ``slack`` past the best match.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be a timezone-aware datetime.")
    expression = parse_schedule(text)
    zone = ZoneInfo(tz)
    after_utc = after.astimezone(UTC)
    tracks_elapsed_time = expression.split()[1].startswith("*")

    def offset(moment: datetime) -> timedelta:
        return moment.astimezone(zone).utcoffset() or timedelta(0)

    slack = abs(offset(after_utc + _CHANGE_WINDOW) - offset(after_utc))
    walk = croniter(expression, after_utc.astimezone(zone).replace(tzinfo=None) - slack)
    best: tuple[datetime, datetime] | None = None  # (instant, wall-clock time it came from)
    for _ in range(_MAX_STEPS):
        wall = walk.get_next(datetime)
        if best is not None and wall > best[1] + slack:
            return best[0]
        first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        # fold=1 is later than fold=0 only for a repeated (clocks-go-back) wall time.
        for instant in (first, second) if tracks_elapsed_time and second > first else (first,):
            if instant > after_utc and (best is None or instant < best[0]):
                best = (instant, wall)
    if best is not None:
        return best[0]
    raise ValueError(f"Schedule {text!r} has no run after {after.isoformat()}.")
