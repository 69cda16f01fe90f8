"""Dates the way integrator.io's JavaScript sees them: moment.js format tokens, both ways.

Mapper 1.0 fields with ``dataType: "date"`` parse with ``extractDateFormat`` in
``extractDateTimezone`` and print with ``generateDateFormat`` in ``generateDateTimezone``; both
formats use moment.js tokens (``YYYY-MM-DD``, ``MM/DD/YYYY hh:mm A``, ``X``...). Handlebars date
helpers use the same tokens, so this module is shared.

>>> from datetime import datetime, timezone
>>> format_moment(datetime(2020, 1, 5, 14, 3, tzinfo=timezone.utc), "dddd, MMMM Do YYYY, h:mm a")
'Sunday, January 5th 2020, 2:03 pm'
>>> parse_moment("01/05/2020 02:03 PM", "MM/DD/YYYY hh:mm A", "America/New_York").isoformat()
'2020-01-05T14:03:00-05:00'
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrator.mapping.date_format import (
    EPOCH,
    MONTHS,
    MONTHS_SHORT,
    TOKEN_RE,
    WEEKDAYS,
    WEEKDAYS_MIN,
    WEEKDAYS_SHORT,
    expand_locale_formats,
    format_moment,
    literal,
)

__all__ = ["format_moment", "parse_moment", "resolve_timezone"]


@lru_cache(maxsize=256)
def resolve_timezone(name: str | None) -> tzinfo:
    """An IANA zone (``America/New_York``); ``None`` or ``""`` is UTC. Unknown names: ValueError."""
    if not name or name in ("UTC", "Etc/UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown timezone '{name}'.") from exc


# --- parsing -------------------------------------------------------------------------------

_NAMES = "|".join(sorted({*MONTHS, *MONTHS_SHORT}, key=len, reverse=True))
_DAY_NAMES = "|".join(sorted({*WEEKDAYS, *WEEKDAYS_SHORT, *WEEKDAYS_MIN}, key=len, reverse=True))
#: Token → (regex, unit). Widths follow moment's non-strict parser (``match1to2`` and friends).
_PARSERS: dict[str, tuple[str, str]] = {
    "YYYY": (r"\d{1,4}", "year"),
    "YYYYY": (r"[+-]?\d{1,6}", "year"),
    "YYYYYY": (r"[+-]?\d{1,6}", "year"),
    "Y": (r"[+-]?\d+", "year"),
    "YY": (r"\d\d?", "year2"),
    "GGGG": (r"\d{1,4}", "isoyear"),
    "GG": (r"\d\d?", "isoyear2"),
    "gggg": (r"\d{1,4}", "isoyear"),
    "gg": (r"\d\d?", "isoyear2"),
    "Q": (r"\d", "quarter"),
    "M": (r"\d\d?", "month"),
    "MM": (r"\d\d?", "month"),
    "Mo": (r"\d\d?(?:st|nd|rd|th)?", "month"),
    "MMM": (_NAMES, "monthname"),
    "MMMM": (_NAMES, "monthname"),
    "D": (r"\d\d?", "day"),
    "DD": (r"\d\d?", "day"),
    "Do": (r"\d\d?(?:st|nd|rd|th)?", "day"),
    "DDD": (r"\d{1,3}", "yday"),
    "DDDD": (r"\d{1,3}", "yday"),
    "d": (r"\d", "ignore"),
    "e": (r"\d", "ignore"),
    "E": (r"\d", "isoweekday"),
    "dd": (_DAY_NAMES, "ignore"),
    "ddd": (_DAY_NAMES, "ignore"),
    "dddd": (_DAY_NAMES, "ignore"),
    "W": (r"\d\d?", "isoweek"),
    "WW": (r"\d\d?", "isoweek"),
    "w": (r"\d\d?", "isoweek"),
    "ww": (r"\d\d?", "isoweek"),
    "H": (r"\d\d?", "hour"),
    "HH": (r"\d\d?", "hour"),
    "h": (r"\d\d?", "hour12"),
    "hh": (r"\d\d?", "hour12"),
    "k": (r"\d\d?", "hour_k"),
    "kk": (r"\d\d?", "hour_k"),
    "m": (r"\d\d?", "minute"),
    "mm": (r"\d\d?", "minute"),
    "s": (r"\d\d?", "second"),
    "ss": (r"\d\d?", "second"),
    "a": (r"[ap]\.?m?\.?", "meridiem"),
    "A": (r"[ap]\.?m?\.?", "meridiem"),
    "Z": (r"Z|[+-]\d\d(?::?\d\d)?", "offset"),
    "ZZ": (r"Z|[+-]\d\d(?::?\d\d)?", "offset"),
    "X": (r"[+-]?\d+(?:\.\d{1,3})?", "unix"),
    "x": (r"[+-]?\d+", "unixms"),
    "z": (r"[A-Za-z]+", "ignore"),
    "zz": (r"[A-Za-z]+", "ignore"),
    "N": (r"AD|BC|Anno Domini|Before Christ", "ignore"),
    **{"S" * width: (r"\d+", "fraction") for width in range(1, 10)},
}
_SEPARATORS = r"\D*?"  # moment skips whatever stands before the next token


@lru_cache(maxsize=512)
def _compile_parser(fmt: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One regex for the whole format; group ``gN`` holds the value of ``units[N]``."""
    pieces: list[str] = [r"\s*"]
    units: list[str] = []
    pending = ""

    def flush() -> None:
        nonlocal pending
        text = pending.strip()
        if pending and not re.search(r"[0-9A-Za-z]", text):
            pieces.append(_SEPARATORS)
        elif pending:
            # moment skips literal text it cannot find; so do we, but we take it when it is there.
            pieces.append(f"(?:{_SEPARATORS}{re.escape(text)}|{_SEPARATORS})")
        pending = ""

    for match in TOKEN_RE.finditer(expand_locale_formats(fmt)):
        token = match.group(3)
        parser = None if match.group(1) or match.group(2) else _PARSERS.get(token or "")
        if parser is None:
            pending += literal(match)
            continue
        flush()
        pieces.append(f"(?P<g{len(units)}>{parser[0]})")
        units.append(parser[1])
    flush()
    return re.compile("".join(pieces), re.IGNORECASE), tuple(units)


def _two_digit_year(text: str) -> int:
    value = int(text)
    return value + (1900 if value > 68 else 2000)


def _build(values: dict[str, int], zone: tzinfo, offset: tzinfo | None) -> datetime:
    """moment's ``configFromArray``: leading missing parts come from today, the rest from zero."""
    if "isoweek" in values:
        year = values.get("isoyear", values.get("year", datetime.now(zone).year))
        day = date.fromisocalendar(year, values["isoweek"], values.get("isoweekday", 1))
        values = {**values, "year": day.year, "month": day.month, "day": day.day}
    elif "yday" in values:
        year = values.get("year", datetime.now(zone).year)
        day = date(year, 1, 1) + timedelta(days=values["yday"] - 1)
        if day.year != year:
            raise ValueError("day of year out of range")
        values = {**values, "year": year, "month": day.month, "day": day.day}
    parts = [values.get(unit) for unit in ("year", "month", "day")]
    if None in parts:
        today = datetime.now(offset or zone)
        current = [today.year, today.month, today.day]
        index = 0
        while index < 3 and parts[index] is None:
            parts[index] = current[index]
            index += 1
        parts = [1 if part is None else part for part in parts]
    hour = values.get("hour", 0)
    if "meridiem_pm" in values:
        hour = hour % 12 + (12 if values["meridiem_pm"] else 0)
    minute, second = values.get("minute", 0), values.get("second", 0)
    extra = timedelta()
    if hour == 24 and minute == second == values.get("microsecond", 0) == 0:
        hour, extra = 0, timedelta(days=1)
    year, month, day_ = (int(part or 0) for part in parts)
    moment = datetime(
        year, month, day_, hour, minute, second, values.get("microsecond", 0), tzinfo=offset or zone
    )
    return _in_zone(moment + extra) if offset is None else moment + extra


def _in_zone(moment: datetime) -> datetime:
    """A wall-clock time that does not exist (inside a DST gap) moves forward, as with moment:
    02:30 on the morning clocks jump to 03:00 reads as 03:30."""
    if moment.tzinfo is UTC:
        return moment
    return moment.astimezone(UTC).astimezone(moment.tzinfo)


def _parse_with_format(text: str, fmt: str, zone: tzinfo) -> datetime:
    regex, units = _compile_parser(fmt)
    match = regex.match(text)
    if match is None or not units:
        raise ValueError(f"'{text}' does not match the date format '{fmt}'.")
    values: dict[str, int] = {}
    offset: tzinfo | None = None
    for index, unit in enumerate(units):
        raw = match.group(f"g{index}")
        digits = re.sub(r"\D", "", raw)
        if unit == "ignore":
            continue
        if unit in ("unix", "unixms"):
            millis = float(raw) * 1000 if unit == "unix" else int(raw)
            return (EPOCH + timedelta(milliseconds=millis)).astimezone(zone)
        if unit == "offset":
            offset = _parse_offset(raw)
        elif unit == "monthname":
            values["month"] = _month_from_name(raw)
        elif unit == "meridiem_pm" or unit == "meridiem":
            values["meridiem_pm"] = int(raw[:1].lower() == "p")
        elif unit == "fraction":
            values["microsecond"] = int((digits + "000000")[:6])
        elif unit in ("year2", "isoyear2"):
            values[unit[:-1]] = _two_digit_year(digits)
        elif unit == "hour12":
            values["hour"] = int(digits)
        elif unit == "hour_k":  # k runs 1-24 and 24 is midnight of the same day
            values["hour"] = int(digits) % 24
        elif unit == "quarter":
            values["month"] = (int(digits) - 1) * 3 + 1
        elif unit == "year":
            values["year"] = int(raw)
        else:
            values[unit] = int(digits)
    return _build(values, zone, offset)


def _month_from_name(name: str) -> int:
    lowered = name.lower()
    for index, (long, short) in enumerate(zip(MONTHS, MONTHS_SHORT, strict=True)):
        if lowered in (long.lower(), short.lower()):
            return index + 1
    raise ValueError(f"Unknown month '{name}'.")


def _parse_offset(text: str) -> tzinfo:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    return timezone(sign * timedelta(minutes=minutes))


#: ISO 8601 as moment reads it (``isoRegex``): calendar, week and ordinal dates, extended or basic.
_ISO_RE = re.compile(
    r"""\s*(?:
      (?P<year>[+-]\d{6}|\d{4})(?:-(?P<month>\d\d)(?:-(?P<day>\d\d))?
        |(?P<bmonth>\d\d)(?P<bday>\d\d)
        |-?W(?P<week>\d\d)(?:-?(?P<wday>\d))?
        |-?(?P<yday>\d{3}))
    )(?:[T\ ](?P<hour>\d\d)(?::?(?P<minute>\d\d)(?::?(?P<second>\d\d)(?:[.,](?P<frac>\d+))?)?)?
      (?P<offset>\s*Z|[+-]\d\d(?::?\d\d)?)?)?\s*""",
    re.VERBOSE | re.IGNORECASE,
)


def _parse_iso(text: str, zone: tzinfo) -> datetime | None:
    match = _ISO_RE.fullmatch(text)
    if match is None:
        return None
    parts = match.groupdict()
    values: dict[str, int] = {"year": int(parts["year"])}
    if parts["week"]:
        values.update(isoweek=int(parts["week"]), isoweekday=int(parts["wday"] or 1))
    elif parts["yday"]:
        values["yday"] = int(parts["yday"])
    else:
        values["month"] = int(parts["month"] or parts["bmonth"] or 1)
        values["day"] = int(parts["day"] or parts["bday"] or 1)
    for unit in ("hour", "minute", "second"):
        values[unit] = int(parts[unit] or 0)
    values["microsecond"] = int(((parts["frac"] or "") + "000000")[:6])
    offset = _parse_offset(parts["offset"].strip()) if parts["offset"] else None
    return _build(values, zone, offset)


def parse_moment(text: str, fmt: str | None = None, tz: str | None = None) -> datetime:
    """``moment.tz(text, fmt, tz)``: read ``text`` by moment tokens, or as ISO 8601 without ``fmt``.

    Always returns an aware datetime: a text without an offset is read as wall-clock time in
    ``tz`` (an IANA name, default UTC); a text with ``Z``/``+05:30`` keeps that offset.
    Separators are lenient and trailing text is ignored, like moment's non-strict mode; values
    out of range (month 13, 30 February) raise ValueError, as does text that does not match.

    Without ``fmt``, after ISO 8601 and RFC 2822, an all-digit text is read as epoch
    milliseconds: integrator.io hands dates to moment as JavaScript values, and a number there
    is milliseconds since 1970 (``moment(1577836800000)``); a record that carries the number as
    a string means the same.

    >>> parse_moment("2020-01-05T10:00:00Z").isoformat()
    '2020-01-05T10:00:00+00:00'
    >>> parse_moment("1577836800000").isoformat()
    '2020-01-01T00:00:00+00:00'
    """
    zone = resolve_timezone(tz)
    try:
        if fmt:
            return _parse_with_format(text, fmt, zone)
        if text[4:5] == "-" and text[10:11] in ("", "T"):  # the shape nearly every record has
            try:
                quick = datetime.fromisoformat(text)
            except ValueError:  # hour 24 and other edges moment accepts: the full parser
                pass
            else:
                return quick if quick.tzinfo is not None else _in_zone(quick.replace(tzinfo=zone))
        stripped = text.strip()
        digits = re.fullmatch(r"-?\d+", stripped) is not None
        try:
            iso = _parse_iso(text, zone)
        except (ValueError, OverflowError):
            if not digits:
                raise
            iso = None  # "1000000" is no ISO ordinal date (day 000), so it is milliseconds
        if iso is not None:
            return iso
        if digits:
            return (EPOCH + timedelta(milliseconds=int(stripped))).astimezone(zone)
        try:
            moment = parsedate_to_datetime(stripped)
        except (TypeError, ValueError, IndexError):
            moment = None
        if moment is not None:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    except OverflowError as exc:
        raise ValueError(f"'{text}' is out of the supported date range.") from exc
    raise ValueError(f"'{text}' is not an ISO 8601 date.")
