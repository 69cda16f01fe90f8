"""Turning a delivery's body into records: media type, parsing, ``pathToRecords``.

Which parser reads the body:

* ``requestMediaType`` set (json, xml, csv, urlencoded, plaintext): that one. A Content-Type
  naming a *different* structured type (say ``application/xml`` for a json listener) is refused
  with 415. ``text/plain`` and ``application/octet-stream`` say nothing about structure and are
  read as the configured type: AWS SNS, for one, posts JSON as ``text/plain``.
* unset: by Content-Type: ``application/json`` (and ``+json``), ``application/x-www-form-
  urlencoded``, ``application/xml``/``text/xml`` (and ``+xml``), ``text/csv``, ``text/plain``.
  No Content-Type reads JSON (what nearly every sender posts); anything else (multipart,
  binary) is 415.

What each gives (``parse``): json → the value; urlencoded → one object, a repeated key's values
as a list; xml → ``{root: …}`` (see ``_XmlBuilder``); csv → one object per row under the header
row; plaintext → ``{"body": text}``. An empty body has no records.

``records`` then applies ``pathToRecords`` (a dot path, as ``resourcePath`` everywhere):

>>> hook = {"pathToRecords": "data.items", "includeParentData": True}
>>> body = b'{"data": {"items": [{"id": 1}, 7]}, "shop": "s1"}'
>>> records(hook, Delivery("POST", "https://x/", {}, {}, body))  # doctest: +NORMALIZE_WHITESPACE
[{'id': 1, '_PARENT': {'data': {}, 'shop': 's1'}},
 {'value': 7, '_PARENT': {'data': {}, 'shop': 's1'}}]

* the path holds an array: one record per element; an object: one record; nothing or null: none.
* no path: an array is its elements, anything else one record.
* an element that is not an object (a number, a string) becomes ``{"value": element}``, because a
  record is always an object (mappings and filters address fields).
* ``includeParentData``: each record also gets ``_PARENT``, the payload without the selected
  array, so a mapping can reach the order header from a line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import parse_qsl
from xml.parsers import expat

import orjson

from integrator.adaptors.webhook.delivery import BadPayload, Delivery
from integrator.mapping.datatypes import MISSING
from integrator.mapping.paths import Getter, compile_getter, parse_path

__all__ = ["MediaKind", "media_kind", "parse", "payload_object", "records"]

MediaKind = Literal["json", "xml", "csv", "urlencoded", "plaintext"]

_BY_CONTENT_TYPE: dict[str, MediaKind] = {
    "application/json": "json",
    "text/json": "json",
    "application/x-www-form-urlencoded": "urlencoded",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/plain": "plaintext",
}
#: Content-Types that do not say how the body is structured (see the module docstring).
_GENERIC = frozenset({"text/plain", "application/octet-stream"})


def _content_type(delivery: Delivery) -> tuple[str, str]:
    """``(media type, charset)`` of the request; ``("", "utf-8")`` when there is none."""
    raw = delivery.header("content-type") or ""
    media, *params = (part.strip() for part in raw.split(";"))
    charset = "utf-8"
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    return media.lower(), charset


def _kind_of(media: str) -> MediaKind | None:
    if media in _BY_CONTENT_TYPE:
        return _BY_CONTENT_TYPE[media]
    if media.endswith("+json"):
        return "json"
    if media.endswith("+xml"):
        return "xml"
    return None


def media_kind(webhook: Mapping[str, Any], delivery: Delivery) -> MediaKind:
    """How to read the body (rules in the module docstring); 415 when it cannot be read."""
    media, _ = _content_type(delivery)
    configured = webhook.get("requestMediaType")
    sent = _kind_of(media)
    if configured:
        if media and media not in _GENERIC and sent != configured:
            raise BadPayload(
                "unsupported_media_type",
                f"This listener reads {configured} (requestMediaType); the request is {media}.",
            )
        return configured  # type: ignore[no-any-return]
    if not media:
        return "json"
    if sent is None:
        raise BadPayload(
            "unsupported_media_type",
            f"A listener reads JSON, XML, CSV, form data or plain text; the request is {media}.",
        )
    return sent


def _text(delivery: Delivery, charset: str) -> str:
    try:
        return delivery.body.decode(charset)
    except LookupError:
        raise BadPayload("invalid_payload", f"Unknown charset {charset!r}.") from None
    except UnicodeDecodeError as exc:
        raise BadPayload("invalid_payload", f"The body is not valid {charset}: {exc}.") from None


def parse(webhook: Mapping[str, Any], delivery: Delivery) -> Any:
    """The body as data (``None`` for an empty body); 400/415 as ``BadPayload``."""
    kind = media_kind(webhook, delivery)
    if not delivery.body.strip():
        return None
    _, charset = _content_type(delivery)
    if kind == "json":
        try:
            if charset.lower().replace("-", "") == "utf8":
                return orjson.loads(delivery.body)
            return orjson.loads(_text(delivery, charset))
        except orjson.JSONDecodeError as exc:
            raise BadPayload("invalid_payload", f"The body is not valid JSON: {exc}.") from None
    if kind == "urlencoded":
        return _form(_text(delivery, charset))
    if kind == "xml":
        return _xml(delivery.body)
    if kind == "csv":
        return _csv(_text(delivery, charset))
    return {"body": _text(delivery, charset)}


def payload_object(webhook: Mapping[str, Any], delivery: Delivery) -> dict[str, Any]:
    """The parsed body when it is an object, else ``{}``: what response templates render with.

    Never raises: it serves answers, which must not fail over a body already accepted.
    """
    try:
        value = parse(webhook, delivery)
    except BadPayload:
        return {}
    return value if isinstance(value, dict) else {}


def _form(text: str) -> dict[str, Any]:
    try:
        pairs = parse_qsl(text.strip(), keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayload("invalid_payload", f"The body is not valid form data: {exc}.") from None
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name not in out:
            out[name] = value
        elif isinstance(out[name], list):
            out[name].append(value)
        else:
            out[name] = [out[name], value]
    return out


def _csv(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""), restval="")
    rows: list[dict[str, Any]] = []
    try:
        for row in reader:
            if None in row:
                raise BadPayload(
                    "invalid_payload",
                    f"CSV line {reader.line_num} has more fields than the header row.",
                )
            rows.append(row)
    except csv.Error as exc:
        raise BadPayload("invalid_payload", f"The body is not valid CSV: {exc}.") from None
    return rows


class _XmlBuilder:
    """Element → dict, as xmltodict does, so XML payloads map like JSON ones.

    ``<order id="7"><line>a</line><line>b</line><note/></order>`` gives
    ``{"order": {"@id": "7", "line": ["a", "b"], "note": None}}``: attributes as ``@name``,
    a repeated child as a list, a text-only element as its text, an empty one as None, and
    text beside attributes or children as ``#text``. Names keep their prefixes (``ns:tag``).
    """

    def __init__(self) -> None:
        self.stack: list[tuple[str, dict[str, Any], list[str]]] = []
        self.root: dict[str, Any] | None = None

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.stack.append((name, {f"@{key}": value for key, value in attributes.items()}, []))

    def end(self, name: str) -> None:
        _, node, texts = self.stack.pop()
        text = "".join(texts).strip()
        value: Any = node if node else (text or None)
        if node and text:
            node["#text"] = text
        if not self.stack:
            self.root = {name: value}
            return
        parent = self.stack[-1][1]
        if name not in parent:
            parent[name] = value
        elif isinstance(parent[name], list):
            parent[name].append(value)
        else:
            parent[name] = [parent[name], value]

    def text(self, data: str) -> None:
        if self.stack:
            self.stack[-1][2].append(data)


def _refuse_dtd(*_: Any) -> Any:
    # A DTD is how XXE and entity-expansion ("billion laughs") attacks get in; webhook
    # payloads never need one, so any DOCTYPE is refused outright.
    raise BadPayload("invalid_payload", "XML with a DOCTYPE is not accepted.")


def _xml(body: bytes) -> dict[str, Any]:
    builder = _XmlBuilder()
    parser = expat.ParserCreate()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise BadPayload("invalid_payload", f"The body is not valid XML: {exc}.") from None
    if builder.root is None:
        raise BadPayload("invalid_payload", "The body is not valid XML: no root element.")
    return builder.root


@lru_cache(maxsize=256)
def _getter(path: str) -> Getter:
    return compile_getter(path)


def _as_record(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}


def _without(payload: Any, path: str) -> Any:
    """``payload`` with the value at ``path`` removed (copying only the containers on the way)."""
    keys = [segment.key for segment in parse_path(path)]
    if not isinstance(payload, dict) or not keys:
        return payload
    top = dict(payload)
    node = top
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            return top
        node[key] = node = dict(child)
    node.pop(keys[-1], None)
    return top


def records(webhook: Mapping[str, Any], delivery: Delivery) -> list[dict[str, Any]]:
    """The delivery's records (rules in the module docstring); ``BadPayload`` when unreadable."""
    payload = parse(webhook, delivery)
    if payload is None:
        return []
    path = webhook.get("pathToRecords")
    if not path:
        items = payload if isinstance(payload, list) else [payload]
        return [_as_record(item) for item in items]
    selected = _getter(path)(payload)
    if selected is MISSING or selected is None:
        return []
    found = [_as_record(item) for item in (selected if isinstance(selected, list) else [selected])]
    if not webhook.get("includeParentData"):
        return found
    parent = _without(payload, path)
    return [{**record, "_PARENT": parent} for record in found]
