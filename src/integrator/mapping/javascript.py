"""JavaScript's value rules, as integrator.io's handlebars on Node applies them to JSON values.

Templates must print and compare values the way handlebars.js does: numbers as ``1`` and
``1.5`` (never ``1.0``), arrays joined with commas, objects as ``[object Object]``, ``"9" > "10"``
true, object keys that look like array indexes first. Helpers must read and write bytes the way
Node's ``Buffer`` does. A JSON ``null`` and a missing field are both ``None`` here, where
JavaScript tells ``null`` from ``undefined``; we treat ``None`` as ``null``.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

__all__ = [
    "ABSENT",
    "buffer_from",
    "buffer_to_string",
    "decode_uri",
    "encode_uri",
    "encoding_name",
    "falsy",
    "js_number",
    "js_ordered",
    "js_property",
    "js_string",
    "json_stringify",
    "kind",
    "less_than",
    "loose_equals",
    "strict_equals",
    "to_number",
    "typeof",
]

#: What ``js_property`` returns for a property the value does not have.
ABSENT: Final = object()
#: JavaScript's WhiteSpace and LineTerminator (what ``trim`` and ``Number()`` strip).
JS_WHITESPACE: Final = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX = re.compile(r"0([xXoObB])([0-9a-zA-Z]+)")


def js_number(value: float) -> str:
    """``String(value)`` for a JavaScript number: ``1``, ``1.5``, ``1e-7``, ``1e+21``, ``NaN``."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    # repr() gives the shortest digits that round-trip, as JavaScript does; only the layout of
    # those digits differs (ECMA-262 Number::toString).
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    if whole != "0":
        point = len(whole) + int(exponent or 0)
    else:
        point = int(exponent or 0) - (len(fraction) - len(fraction.lstrip("0")))
    digits = (whole + fraction).strip("0")
    sign, count = ("-" if value < 0 else ""), len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    tail = f".{digits[1:]}" if count > 1 else ""
    return f"{sign}{digits[0]}{tail}e{'+' if point > 0 else '-'}{abs(point - 1)}"


def _js_int(value: int) -> str:
    # Integers print exactly below 1e21; JavaScript would already round past 2**53 (an id of
    # 19 digits keeps its last digits here, which is what a user means).
    return str(value) if abs(value) < 10**21 else js_number(float(value))


def js_string(value: Any) -> str:
    """What handlebars.js prints for a value: ``None`` is ``""``, ``[1, None]`` is ``"1,"``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _js_int(value)
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, list | tuple):
        return ",".join(js_string(item) for item in value)
    return str(value)


def to_number(value: Any) -> float:
    """JavaScript's ``Number(value)``, except that ``None`` (null or missing) is 0.

    >>> to_number(" 12 "), to_number(""), to_number("0x1A"), to_number("12px")
    (12.0, 0.0, 26.0, nan)
    """
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        text = value.strip(JS_WHITESPACE)
        if not text:
            return 0.0
        if _DECIMAL.fullmatch(text):
            return float(text)
        radix = _RADIX.fullmatch(text)
        if radix:
            try:
                return float(int(radix.group(2), {"x": 16, "o": 8, "b": 2}[radix[1].lower()]))
            except ValueError:
                return math.nan
        return math.nan
    if isinstance(value, list | tuple):
        return to_number(js_string(value))
    return math.nan


def _is_array_index(key: str) -> bool:
    return (
        key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1
    )


def js_property(value: Any, key: Any) -> Any:
    """``value[key]`` for own properties only, as handlebars.js reads paths; else ``ABSENT``.

    Arrays and strings have ``length`` and numeric indexes (``{{items.length}}``,
    ``{{name.[0]}}``); objects have their keys.
    """
    name = key if isinstance(key, str) else ("null" if key is None else js_string(key))
    if isinstance(value, Mapping):
        return value.get(name, ABSENT)
    if isinstance(value, str) and not value.isascii() and max(value) > "\uffff":
        value = _utf16_units(value)  # JavaScript strings are UTF-16: 😀 is two units
    if isinstance(value, list | tuple | str):
        if name == "length":
            return len(value)
        if _is_array_index(name) and int(name) < len(value):
            return value[int(name)]
    return ABSENT


def _utf16_units(text: str) -> list[str]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [data[i : i + 2].decode("utf-16-le", "surrogatepass") for i in range(0, len(data), 2)]


def js_ordered(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """The mapping in JavaScript's key order: array-index keys ascending, then the others."""
    indexes = [key for key in mapping if isinstance(key, str) and _is_array_index(key)]
    if not indexes:
        return mapping
    ordered = {key: mapping[key] for key in sorted(indexes, key=int)}
    ordered.update((key, item) for key, item in mapping.items() if key not in ordered)
    return ordered


def json_stringify(value: Any) -> str:
    """``JSON.stringify(value)``: compact, JavaScript numbers and key order, non-ASCII kept."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _js_int(value)
    if isinstance(value, float):
        return js_number(value) if math.isfinite(value) else "null"
    if isinstance(value, Mapping):
        items = js_ordered(value).items()
        fields = (
            f"{json.dumps(js_string(k), ensure_ascii=False)}:{json_stringify(v)}" for k, v in items
        )
        return "{" + ",".join(fields) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_stringify(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def falsy(value: Any) -> bool:
    """JavaScript's falsy values: null, false, "", 0 and NaN."""
    if value is None or value is False or value == "":
        return True
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and (value == 0 or value != value)


def kind(value: Any) -> str:
    """``null``, ``boolean``, ``number``, ``string`` or ``object`` (arrays included)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "object"


def typeof(value: Any) -> str:
    """JavaScript's ``typeof``; ``None`` is ``"object"``, as ``typeof null``."""
    return "object" if value is None else kind(value)


def strict_equals(left: Any, right: Any) -> bool:
    """JavaScript ``===``: same type and value; objects only equal themselves."""
    left_kind = kind(left)
    if left_kind != kind(right):
        return False
    if left_kind == "number":
        return float(left) == float(right)
    return left is right if left_kind == "object" else bool(left == right)


def loose_equals(left: Any, right: Any) -> bool:
    """JavaScript ``==``: ``1 == "1"``, ``true == 1``, ``[1, 2] == "1,2"``; null == null only."""
    left_kind, right_kind = kind(left), kind(right)
    if left_kind == right_kind:
        return strict_equals(left, right)
    if "null" in (left_kind, right_kind):
        return False
    if left_kind == "boolean":
        return loose_equals(float(left), right)
    if right_kind == "boolean":
        return loose_equals(left, float(right))
    if left_kind == "object":
        return loose_equals(js_string(left), right)
    if right_kind == "object":
        return loose_equals(left, js_string(right))
    return to_number(left) == to_number(right)  # a number and a string


def less_than(left: Any, right: Any) -> bool | None:
    """JavaScript's abstract ``left < right``; None when a NaN makes it undefined."""
    if not isinstance(left, str) and kind(left) == "object":
        left = js_string(left)
    if not isinstance(right, str) and kind(right) == "object":
        right = js_string(right)
    if isinstance(left, str) and isinstance(right, str):  # in UTF-16 code unit order
        return _utf16(left) < _utf16(right)
    a, b = to_number(left), to_number(right)
    return None if a != a or b != b else a < b


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


_URI_RESERVED = ";/?:@&=+$,#"
_HEX_PAIR = re.compile(r"[0-9a-fA-F]{2}")


def encode_uri(text: str, component: bool = False) -> str:
    """JavaScript's ``encodeURI`` (or ``encodeURIComponent``)."""
    return quote(text, safe="!'()*-._~" if component else "!'()*-._~" + _URI_RESERVED)


def decode_uri(text: str) -> str:
    """JavaScript's ``decodeURI``: escapes of ``;/?:@&=+$,#`` stay escaped. Raises ValueError."""
    out: list[str] = []
    index = 0
    while (percent := text.find("%", index)) >= 0:
        out.append(text[index:percent])
        raw = bytearray()
        while text.startswith("%", percent) and _HEX_PAIR.match(text, percent + 1):
            raw.append(int(text[percent + 1 : percent + 3], 16))
            percent += 3
            if raw[0] < 0x80 or len(raw) == (2 if raw[0] < 0xE0 else 3 if raw[0] < 0xF0 else 4):
                break
        if not raw:
            raise ValueError("URI malformed")
        char = bytes(raw).decode("utf-8")  # a bad sequence raises UnicodeDecodeError
        out.append(text[percent - 3 : percent] if char in _URI_RESERVED else char)
        index = percent
    out.append(text[index:])
    return "".join(out)


def encoding_name(name: Any, default: str = "utf8") -> str:
    """Node's encoding names, normalised: ``UTF-8`` → ``utf8``, ``binary`` → ``latin1``."""
    text = js_string(name).lower().replace("-", "") or default
    return {"binary": "latin1", "ucs2": "utf16le"}.get(text, text)


def buffer_from(text: str, encoding: str) -> bytes:
    """Node's ``Buffer.from(text, encoding)``."""
    if encoding == "utf8":
        return text.encode("utf-8", "replace")
    if encoding in ("latin1", "ascii"):  # the low byte of each UTF-16 code unit
        return text.encode("utf-16-le", "surrogatepass")[::2]
    if encoding == "utf16le":
        return text.encode("utf-16-le", "surrogatepass")
    # Node reads hex and base64 from the low byte of each UTF-16 unit: 中 (U+4E2D) counts as
    # "-", and half of 😀 as "=", which ends base64.
    chars = (
        text if text.isascii() else text.encode("utf-16-le", "surrogatepass")[::2].decode("latin-1")
    )
    if encoding == "hex":  # up to the first pair that is not hex
        match = re.match(r"(?:[0-9a-fA-F]{2})*", chars)
        return bytes.fromhex(match.group(0) if match else "")
    if encoding in ("base64", "base64url"):  # other characters are skipped; "=" ends it
        cleaned = re.sub(r"[^A-Za-z0-9+/_-]", "", chars.split("=", 1)[0])
        cleaned = cleaned[: len(cleaned) - 1] if len(cleaned) % 4 == 1 else cleaned
        padding = "=" * (-len(cleaned) % 4)
        return base64.urlsafe_b64decode(cleaned.replace("+", "-").replace("/", "_") + padding)
    raise ValueError(f"Unknown encoding: {encoding}")


def buffer_to_string(data: bytes, encoding: str) -> str:
    """Node's ``buffer.toString(encoding)``."""
    if encoding == "utf8":
        return data.decode("utf-8", "replace")
    if encoding == "latin1":
        return data.decode("latin-1")
    if encoding == "ascii":
        return bytes(byte & 0x7F for byte in data).decode("ascii")
    if encoding == "utf16le":
        return data[: len(data) // 2 * 2].decode("utf-16-le", "surrogatepass")
    if encoding == "hex":
        return data.hex()
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    if encoding == "base64url":
        return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
    raise ValueError(f"Unknown encoding: {encoding}")
