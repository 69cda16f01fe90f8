"""``dataType`` conversions of Mapper 1.0, as seed 003 states them and JavaScript computes them.

Seed 003: "boolean: null, undefined, false, NaN, 'false', 'off', and 'no' resolve to false. All
other values resolve to true. number: null, undefined, NaN, and any non-numeric string value
resolve to 0. string: simply the string equivalent of the value."

``MISSING`` stands for JavaScript's ``undefined`` (the source has no such field).

>>> to_boolean("off"), to_boolean("False"), to_boolean(0)
(False, True, True)
>>> to_number(" 0x1F "), to_number("1e3"), to_number("12px"), to_number("2.5")
(31, 1000, 0, 2.5)
>>> js_string(1e21), js_string(1.5), js_string(True), js_string({"a": 1})
('1e+21', '1.5', 'true', '{"a":1}')
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any, Final

from integrator.mapping import javascript as js
from integrator.mapping.date_format import formatter
from integrator.mapping.dates import parse_moment, resolve_timezone

__all__ = [
    "DATA_TYPES",
    "MISSING",
    "FieldError",
    "Missing",
    "date_converter",
    "is_empty",
    "js_string",
    "to_boolean",
    "to_number",
    "to_string",
]


class Missing(enum.Enum):
    """JavaScript's ``undefined``: the value is absent, which is not the same as ``null``."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING
DATA_TYPES = ("string", "number", "boolean", "date")


class FieldError(Exception):
    """One field of one record could not be mapped; becomes an entry of that record's errors."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_empty(value: Any) -> bool:
    """Empty for ``discardIfEmpty`` and ``extract_not_empty``: absent, null, "", [] and {}."""
    return value is MISSING or value is None or value == "" or value == [] or value == {}


# --- boolean -------------------------------------------------------------------------------

#: Exactly the strings seed 003 lists; the comparison is case-sensitive, as the seed writes it.
FALSE_STRINGS: Final = frozenset({"false", "off", "no"})


def to_boolean(value: Any) -> bool:
    """Seed 003's rule. ``0``, ``""`` and ``"False"`` are not in its list, so they are true."""
    if value is MISSING or value is None or value is False:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, str) and value in FALSE_STRINGS)


# --- number --------------------------------------------------------------------------------

_SAFE_INTEGER = 2**53
#: Within these characters Python's ``float()`` and JavaScript's ``Number()`` agree on what is
#: a number and on its value (no ``inf``/``nan``/``_``/whitespace/non-ASCII digits to differ on).
_DECIMAL_CHARS = frozenset("0123456789.+-eE")


def _decimal(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return js.to_number(text)  # "" is 0 to JavaScript, not an error


def to_number(value: Any) -> int | float:
    """Seed 003's rule on top of JavaScript's ``Number()``; NaN never comes out (it becomes 0).

    ``true``/``false`` are 1/0, ``" 0x1F "`` is 31 and ``[5]`` is 5 as in JavaScript;
    ``"Infinity"`` stays infinite. Whole numbers come back as ints (JSON prints them alike),
    except past 2**53, where JavaScript has no exact integers either.
    """
    kind = type(value)
    if kind is str:
        if len(value) < 16 and value.isdigit() and value.isascii():
            return int(value)  # the common case, exact and fast
        number = _decimal(value) if _DECIMAL_CHARS.issuperset(value) else js.to_number(value)
    elif kind is int:
        return value  # type: ignore[no-any-return]
    elif kind is float:
        number = value
    elif value is MISSING or value is None:
        return 0
    elif kind is bool:
        return int(value)
    else:
        number = js.to_number(value) if isinstance(value, list) else math.nan
    if math.isnan(number):
        return 0
    if number.is_integer() and abs(number) <= _SAFE_INTEGER:
        return int(number)
    return number


# --- string --------------------------------------------------------------------------------


_EXACT = 10**21  # JavaScript prints integers below this in full


def js_string(value: Any) -> str:
    """The string ``dataType: "string"`` writes for ``value``.

    Primitives as JavaScript's ``String()`` prints them (``43``, ``1.5``, ``1e+21``, ``true``,
    ``null``); objects and arrays as ``JSON.stringify`` writes them, as Celigo's mappers
    stringify objects, rather than JavaScript's lossy ``[object Object]`` / ``1,2``.
    """
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int and -_EXACT < value < _EXACT:
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return js.json_stringify(value)
    return js.js_string(value)


def to_string(value: Any) -> Any:
    """``dataType: "string"``: ``js_string``, except that an absent value stays absent."""
    if type(value) is str or value is MISSING:
        return value
    return js_string(value)


# --- date ----------------------------------------------------------------------------------

#: ``Date.prototype.toISOString()``, what a JavaScript date becomes in JSON.
ISO_UTC_FORMAT = "YYYY-MM-DDTHH:mm:ss.SSS[Z]"
ISO_OFFSET_FORMAT = "YYYY-MM-DDTHH:mm:ss.SSSZ"


def date_converter(
    extract_format: str | None,
    extract_timezone: str | None,
    generate_format: str | None,
    generate_timezone: str | None,
) -> Callable[[Any], Any]:
    """A function reading a date as ``extractDateFormat`` and writing it as ``generateDateFormat``.

    Without ``generateDateFormat`` the output is ``toISOString()`` (``2020-01-05T10:00:00.000Z``),
    or the same shape with the offset of ``generateDateTimezone`` when one is given. A number
    without ``extractDateFormat`` is epoch milliseconds. ``null`` and ``""`` pass unchanged; text
    that is not a date raises ``FieldError("invalid_date")``.
    """
    resolve_timezone(extract_timezone)  # unknown zones fail when the mapping is compiled
    out_zone: tzinfo = resolve_timezone(generate_timezone)
    out_format = generate_format or (ISO_OFFSET_FORMAT if generate_timezone else ISO_UTC_FORMAT)
    write = formatter(out_format)

    def convert(value: Any) -> Any:
        if value is None or value == "" or value is MISSING:
            return value
        moment: datetime
        try:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError(f"{js_string(value)} is not a date.")
            if isinstance(value, str) or extract_format:
                moment = parse_moment(js_string(value), extract_format, extract_timezone)
            else:
                moment = parse_moment(str(int(value)), None, extract_timezone)
            return write(moment.astimezone(out_zone))
        except (ValueError, OverflowError) as exc:
            raise FieldError("invalid_date", str(exc)) from exc

    return convert
