"""integrator.io's handlebars helpers, registered by ``templates.render()``.

Signatures follow Celigo's helper reference; the argument order is not always the obvious one
(``dateFormat`` takes the output format first, ``join`` the delimiter first, ``hmac`` the key
before the encoding). Where the reference is silent, the docstring says what we chose.

Values behave as in JavaScript (``javascript.py``): ``{{add "2" 3}}`` is ``5``, ``None`` counts
as ``null``. Every helper returns a plain value, never a SafeString, so ``{{ }}`` escapes its
output for the render mode like any field; integrator.io's docs write ``{{{ }}}`` for that reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac as hmac_lib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

from dotpromptz_handlebars import HelperFn, HelperOptions

from integrator.mapping import javascript as js
from integrator.mapping.dates import format_moment, parse_moment, resolve_timezone
from integrator.mapping.javascript import js_string, to_number

__all__ = ["HELPERS", "LOOKUPS_DATA_KEY", "TemplateError", "utc_now"]


class TemplateError(ValueError):
    """A template that does not parse, or a helper asked for something it cannot do."""


#: Key of the ``@data`` frame under which render() hands static lookups to ``{{lookup}}``.
LOOKUPS_DATA_KEY: Final = "integrator.lookups"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: moment's ``format()`` without a format string.
DEFAULT_DATE_FORMAT: Final = "YYYY-MM-DDTHH:mm:ssZ"


def _arg(args: list[Any], index: int) -> Any:
    return args[index] if index < len(args) else None


# --- comparison ----------------------------------------------------------------------------


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": js.loose_equals,
    "===": js.strict_equals,
    "!=": lambda a, b: not js.loose_equals(a, b),
    "!==": lambda a, b: not js.strict_equals(a, b),
    "<": lambda a, b: js.less_than(a, b) is True,
    ">": lambda a, b: js.less_than(b, a) is True,
    "<=": lambda a, b: js.less_than(b, a) is False,
    ">=": lambda a, b: js.less_than(a, b) is False,
    "typeof": lambda a, b: js.loose_equals(js.typeof(a), b),
}


def compare(args: list[Any], options: HelperOptions) -> Any:
    """``{{#compare left "op" right}}yes{{else}}no{{/compare}}``; op is ``==``, ``===``, ``!=``,
    ``!==``, ``<``, ``<=``, ``>``, ``>=`` or ``typeof`` (``typeof left == right``).

    JavaScript semantics: ``==`` converts types, strings compare as strings (``"9" > "10"``).
    Our choices where the docs are silent: two arguments mean ``===`` (the classic helper), and
    the inline form ``{{compare a "<" b}}`` returns ``true``/``false``.
    """
    if len(args) == 2:
        left, operator, right = args[0], "===", args[1]
    elif len(args) >= 3:
        left, operator, right = args[0], args[1], args[2]
    else:
        raise TemplateError("compare needs two values and an operator.")
    test = _OPERATORS.get(operator) if isinstance(operator, str) else None
    if test is None:
        raise TemplateError(f"compare does not know the operator {js_string(operator)!r}.")
    result = test(left, right)
    if not options.is_block:
        return result
    return options.fn() if result else options.inverse()


def lookup(args: list[Any], options: HelperOptions) -> Any:
    """``{{lookup "lookupName" value}}``: integrator.io's static lookup, when render() was given
    a lookup of that name; otherwise handlebars' ``{{lookup object key}}`` (``key`` may be an
    index or ``"length"``).
    """
    target, key = _arg(args, 0), _arg(args, 1)
    lookups = options.data.get(LOOKUPS_DATA_KEY)
    if isinstance(target, str) and lookups and target in lookups:
        return lookups[target](key)
    if js.falsy(target):
        return target
    found = js.js_property(target, key)
    return None if found is js.ABSENT else found


# --- dates ---------------------------------------------------------------------------------


def utc_now() -> datetime:
    """The clock ``timestamp`` reads; tests replace it."""
    return datetime.now(UTC)


def _zone(name: Any) -> tzinfo:
    try:
        return resolve_timezone(js_string(name) or None)
    except (ValueError, OSError) as exc:
        raise TemplateError(f"Unknown timezone {js_string(name)!r}.") from exc


def _is_zone(name: Any) -> bool:
    if not isinstance(name, str) or not name:
        return False
    try:
        resolve_timezone(name)
    except (ValueError, OSError):
        return False
    return True


def _moment(value: Any, fmt: Any, zone_name: str | None) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_zone(zone_name))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _EPOCH + timedelta(milliseconds=value)  # moment(number) is epoch milliseconds
    return parse_moment(js_string(value), js_string(fmt) or None, zone_name)


def date_format(args: list[Any], options: HelperOptions) -> str:
    """``{{dateFormat outputFormat date inputFormat timezone}}`` with moment.js tokens.

    ``inputFormat`` (optional) reads ``date``; without it ISO 8601, RFC 2822 or epoch ms.
    ``timezone`` (optional IANA name, default UTC) is where a date without an offset is read
    and where the result is printed, as ``moment.tz(date, inputFormat, timezone)``.
    Our choices: a third argument that names a timezone and no fourth is the timezone
    (Celigo's own examples write it that way); an empty ``outputFormat`` is moment's default
    ``YYYY-MM-DDTHH:mm:ssZ``; a missing date prints ``""``, an unreadable one ``Invalid date``.
    """
    output, value, input_format, zone_name = (_arg(args, index) for index in range(4))
    if zone_name is None and _is_zone(input_format):
        input_format, zone_name = None, input_format
    zone = _zone(zone_name)
    if value is None or value == "":
        return ""
    try:
        moment = _moment(value, input_format, js_string(zone_name) or None).astimezone(zone)
    except (ValueError, OverflowError):
        return "Invalid date"
    return format_moment(moment, js_string(output) or DEFAULT_DATE_FORMAT)


def date_add(args: list[Any], options: HelperOptions) -> str:
    """``{{dateAdd date offsetMs timezone}}``: ``date`` plus ``offsetMs`` milliseconds (negative
    subtracts), as ISO 8601 in UTC (``2025-03-27T12:34:56.000Z``). ``timezone`` is where a date
    without an offset is read. A missing or unreadable date, or a non-numeric offset, prints "".
    """
    value, offset, zone_name = _arg(args, 0), to_number(_arg(args, 1)), _arg(args, 2)
    _zone(zone_name)
    if value is None or value == "" or not math.isfinite(offset):
        return ""
    try:
        moment = _moment(value, None, js_string(zone_name) or None) + timedelta(milliseconds=offset)
        return format_moment(moment.astimezone(UTC), "YYYY-MM-DD[T]HH:mm:ss.SSS[Z]")
    except (ValueError, OverflowError):
        return ""


def timestamp(args: list[Any], options: HelperOptions) -> str:
    """``{{timestamp format timezone}}``: now, in ``timezone`` (default UTC), with moment.js
    ``format`` (default ``YYYY-MM-DDTHH:mm:ssZ``, e.g. ``2025-04-20T17:38:20+00:00``).
    """
    zone = _zone(_arg(args, 1))
    return format_moment(
        utc_now().astimezone(zone), js_string(_arg(args, 0)) or DEFAULT_DATE_FORMAT
    )


# --- encodings -----------------------------------------------------------------------------


def base64_encode(args: list[Any], options: HelperOptions) -> str:
    """``{{base64Encode text encodeFormat}}``: ``Buffer.from(text, encodeFormat)`` in base64.
    ``encodeFormat`` is how ``text`` is read: utf8 (default), ascii, latin1/binary, hex,
    ucs2/utf16le, base64."""
    return base64.b64encode(
        js.buffer_from(js_string(_arg(args, 0)), js.encoding_name(_arg(args, 1)))
    ).decode()


def base64_decode(args: list[Any], options: HelperOptions) -> str:
    """``{{base64Decode base64Text decodeFormat}}``: the decoded bytes as ``decodeFormat``
    (utf8 default, ascii, latin1/binary, hex, ucs2/utf16le, base64). Lenient like Node."""
    if _arg(args, 0) is None:
        return ""
    data = js.buffer_from(js_string(args[0]), "base64")
    return js.buffer_to_string(data, js.encoding_name(_arg(args, 1)))


def _digest(name: Any, data: bytes, key: bytes | None = None) -> Any:
    algorithm = js_string(name)
    for candidate in dict.fromkeys((algorithm, algorithm.lower().replace("-", "_"))):
        try:
            if key is not None:
                return hmac_lib.new(key, data, candidate)
            return hashlib.new(candidate, data)
        except (ValueError, TypeError):
            continue
    raise TemplateError(f"Digest method not supported: {algorithm!r}")


def hash_helper(args: list[Any], options: HelperOptions) -> str:
    """``{{hash "algorithm" "encoding" data}}``: ``crypto.createHash(algorithm).update(data)
    .digest(encoding)``; algorithm md5, sha1, sha256, sha512...; encoding hex (default), base64,
    base64url, latin1. A fourth argument is refused: a keyed signature is ``hmac``."""
    if len(args) > 3:
        raise TemplateError("hash takes algorithm, encoding and data; use hmac to sign with a key.")
    digest = _digest(_arg(args, 0), js_string(_arg(args, 2)).encode("utf-8", "replace"))
    return js.buffer_to_string(digest.digest(), js.encoding_name(_arg(args, 1), "hex"))


def hmac_helper(args: list[Any], options: HelperOptions) -> str:
    """``{{hmac "algorithm" key "encoding" data keyEncoding}}``: ``crypto.createHmac(algorithm,
    Buffer.from(key, keyEncoding)).update(data).digest(encoding)``; keyEncoding utf8 (default),
    base64, hex or latin1; encoding hex (default), base64, base64url, latin1."""
    key = js.buffer_from(js_string(_arg(args, 1)), js.encoding_name(_arg(args, 4)))
    data = js_string(_arg(args, 3)).encode("utf-8", "replace")
    return js.buffer_to_string(
        _digest(_arg(args, 0), data, key).digest(), js.encoding_name(_arg(args, 2), "hex")
    )


# --- strings -------------------------------------------------------------------------------


def _text(args: list[Any], index: int) -> str:
    return js_string(_arg(args, index))


def to_upper_case(args: list[Any], options: HelperOptions) -> str:
    """``{{toUpperCase text}}``, also ``{{uppercase text}}``."""
    return _text(args, 0).upper()


def to_lower_case(args: list[Any], options: HelperOptions) -> str:
    """``{{toLowerCase text}}``, also ``{{lowercase text}}``."""
    return _text(args, 0).lower()


def trim(args: list[Any], options: HelperOptions) -> str:
    """``{{trim text}}``: without leading and trailing (JavaScript) whitespace."""
    return _text(args, 0).strip(js.JS_WHITESPACE)


def replace(args: list[Any], options: HelperOptions) -> str:
    """``{{replace text "find" "replacement"}}``: every occurrence, case-sensitive, literally
    (no ``$&`` patterns). An empty ``find`` leaves the text as it is (our choice)."""
    text, find = _text(args, 0), _text(args, 1)
    return text.replace(find, _text(args, 2)) if find else text


def split(args: list[Any], options: HelperOptions) -> str:
    """``{{split text "delimiter" index}}``: the index-th piece (0-based, default 0), or "" when
    there is none. An empty delimiter splits into characters (our choice)."""
    text, delimiter, index = _text(args, 0), _text(args, 1), to_number(_arg(args, 2))
    pieces = text.split(delimiter) if delimiter else list(text)
    return pieces[int(index)] if index.is_integer() and 0 <= index < len(pieces) else ""


def _flatten(values: Any) -> list[Any]:
    if not isinstance(values, list | tuple):
        return [values]
    return [item for value in values for item in _flatten(value)]


def join(args: list[Any], options: HelperOptions) -> str:
    """``{{join "delimiter" value1 value2 ...}}``: the values joined, arrays flattened into them;
    ``None`` joins as ""."""
    return _text(args, 0).join(js_string(value) for value in _flatten(args[1:]))


def encode_uri(args: list[Any], options: HelperOptions) -> str:
    """``{{{encodeURI text}}}``: JavaScript's ``encodeURI`` (``/?&=#`` stay as they are; in a
    ``uri`` template ``{{ }}`` already encodes a value as a URI component)."""
    return js.encode_uri(_text(args, 0))


def decode_uri(args: list[Any], options: HelperOptions) -> str:
    """``{{{decodeURI text}}}``: JavaScript's ``decodeURI``. A malformed escape, where
    JavaScript throws, leaves the text as it is (our choice)."""
    text = _text(args, 0)
    try:
        return js.decode_uri(text)
    except ValueError:
        return text


def json_serialize(args: list[Any], options: HelperOptions) -> str:
    """``{{{jsonSerialize value}}}``: ``JSON.stringify(value)``; ``None`` gives ``null``, so a
    missing field keeps a JSON body valid (JavaScript would print "" for undefined)."""
    return js.json_stringify(_arg(args, 0))


def json_parse(args: list[Any], options: HelperOptions) -> Any:
    """``{{jsonParse text}}``: the parsed value, for subexpressions
    (``{{#with (jsonParse record.payload)}}…{{/with}}``). Invalid JSON is a TemplateError."""
    value = _arg(args, 0)
    if value is None:
        return None
    try:
        return json.loads(js_string(value), parse_constant=_reject_constant)
    except ValueError as exc:
        raise TemplateError(f"jsonParse: {exc}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --- numbers -------------------------------------------------------------------------------


def add(args: list[Any], options: HelperOptions) -> float:
    """``{{add number1 number2 ...}}``: the sum of ``Number(value)`` for each, left to right
    in floating point as JavaScript adds; text that is not a number makes ``NaN``."""
    total = 0.0
    for value in args:
        total += to_number(value)
    return total


def subtract(args: list[Any], options: HelperOptions) -> float:
    """``{{subtract minuend subtrahend}}``."""
    return to_number(_arg(args, 0)) - to_number(_arg(args, 1))


def multiply(args: list[Any], options: HelperOptions) -> float:
    """``{{multiply number1 number2}}``."""
    return to_number(_arg(args, 0)) * to_number(_arg(args, 1))


def divide(args: list[Any], options: HelperOptions) -> float:
    """``{{divide dividend divisor}}``; by zero it is ``Infinity`` (or ``NaN`` for 0/0)."""
    dividend, divisor = to_number(_arg(args, 0)), to_number(_arg(args, 1))
    if divisor != 0:
        return dividend / divisor
    if dividend == 0 or dividend != dividend:
        return math.nan
    return math.copysign(math.inf, dividend) * math.copysign(1.0, divisor)


def round_helper(args: list[Any], options: HelperOptions) -> float:
    """``{{round number}}``: ``Math.round``, to the nearest integer, halves up (-2.5 → -2)."""
    value = to_number(_arg(args, 0))
    if not math.isfinite(value):
        return value
    floor = math.floor(value)
    return float(floor + 1 if value - floor >= 0.5 else floor)


#: Everything ``render()`` registers; ``if``, ``unless``, ``each``, ``with`` are built in.
HELPERS: dict[str, HelperFn] = {
    "dateFormat": date_format,
    "dateAdd": date_add,
    "timestamp": timestamp,
    "jsonSerialize": json_serialize,
    "jsonParse": json_parse,
    "base64Encode": base64_encode,
    "base64Decode": base64_decode,
    "hash": hash_helper,
    "hmac": hmac_helper,
    "compare": compare,
    "lookup": lookup,
    "encodeURI": encode_uri,
    "decodeURI": decode_uri,
    "toUpperCase": to_upper_case,
    "toLowerCase": to_lower_case,
    "uppercase": to_upper_case,
    "lowercase": to_lower_case,
    "trim": trim,
    "replace": replace,
    "split": split,
    "join": join,
    "add": add,
    "subtract": subtract,
    "multiply": multiply,
    "divide": divide,
    "round": round_helper,
    # handlebars.js has ``log``; integrator.io's output never shows it.
    "log": lambda args, options: "",
}
