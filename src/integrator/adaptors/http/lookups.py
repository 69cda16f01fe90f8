"""REST lookups and URI placeholders for HTTP/REST imports (reference §4.2, §4.4).

A dynamic REST lookup sends its own request through the connection and reads one value from the
answer::

    {"name": "idLookup", "relativeURI": "customers?ns_id={internalId}", "method": "GET",
     "extract": "0.id"}

``RestLookupProvider`` runs such lookups for the mapper (it is a ``LookupProvider``) and for the
import itself (``{idLookup}`` in a composite import's update URI). Answers are cached per record,
so a lookup used both by the URI and by a mapped field costs one request.

Templates (``render_placeholders``) come in two syntaxes, told apart by ``{{``:

* a template containing ``{{`` is handlebars (``{{record.email}}``, ``{{{idLookup}}}``);
* otherwise single-brace placeholders are substituted, integrator.io's legacy REST syntax:
  ``{name}`` is the result of the lookup ``name`` when the import defines one, else the
  record's field (a dot path, ``{billing.zip}``). Only identifier-like names count, so JSON
  such as ``{"a": 1}`` is left alone.

Either way, a lookup named in the template runs first and its result is in scope under its
name (lookups win over record fields of the same name). In URIs values are URL-encoded
(``encodeURIComponent``), in bodies JSON-string escaped, in headers taken as they are.

>>> render_placeholders("customers?ns_id={internalId}", {"internalId": "a b"}, "uri")
'customers?ns_id=a%20b'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import quote

import orjson

from integrator.adaptors.http.auth import AuthFailed
from integrator.adaptors.http.client import ConnectionClient
from integrator.adaptors.http.export import parse_body
from integrator.adaptors.http.records import body_snippet, read_path
from integrator.mapping.datatypes import MISSING, js_string
from integrator.mapping.lookups import LookupFailure, compile_lookup
from integrator.mapping.templates import Mode, render, template_context

__all__ = ["LookupRequestFailed", "RestLookupProvider", "render_placeholders"]

#: ``{internalId}``, ``{billing.zip}``, ``{lines[0].sku}``: a legacy placeholder.
LEGACY_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_$][\w$]*(?:(?:\.[\w$]+)|\[\d+\])*)\s*\}")


def _escape_uri(text: str) -> str:
    return quote(text, safe="!'()*-._~")  # encodeURIComponent, as handlebars "uri" mode does


def _escape_json(text: str) -> str:
    return orjson.dumps(text).decode()[1:-1]


_LEGACY_ESCAPERS: dict[str, Callable[[str], str]] = {
    "uri": _escape_uri,
    "body": _escape_json,
    "plain": str,
}

#: Resolves a lookup by name for a template (``MISSING`` when it is not a lookup).
LookupResolver = Callable[[str], Any]


class LookupRequestFailed(Exception):
    """A lookup's request was answered with an error (not "no match")."""


def _text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    return js_string(value)


def referenced_lookups(template: str, names: Collection[str]) -> list[str]:
    """The lookup names ``template`` mentions, in the order of ``names``."""
    if not names or "{" not in template:
        return []
    words = set(re.findall(r"[A-Za-z_$][\w$]*", template))
    return [name for name in names if name in words]


def render_placeholders(
    template: str,
    record: dict[str, Any],
    mode: Mode,
    *,
    lookup_names: Collection[str] = (),
    resolve_lookup: LookupResolver | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Render an import URI, header or body against the (pre- or post-mapped) record.

    See the module docstring for the two syntaxes. ``resolve_lookup(name)`` is called for each
    lookup the template names; ``extra`` adds names to the handlebars context (``settings``...).
    """
    values: dict[str, Any] = {}
    if resolve_lookup is not None:
        for name in referenced_lookups(template, lookup_names):
            values[name] = resolve_lookup(name)
    if "{{" in template:
        context = template_context(record)
        context.update(extra or {})
        context.update(values)
        return render(template, context, mode)
    escape = _LEGACY_ESCAPERS[mode]

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values[name] if name in values else read_path(record, name)
        return escape(_text(value))

    return LEGACY_PLACEHOLDER.sub(substitute, template)


class RestLookupProvider:
    """Runs an import's REST lookups through ``client``; one instance per record.

    ``fetch`` answers the raw result (``MISSING`` for no match); ``resolve`` applies the
    lookup's ``default``/``allowFailures`` as the mapper does; ``lookup`` is the mapper's hook.
    An ``AuthFailed`` raised inside the mapper would become a field error, so it is kept in
    ``auth_failure`` for the import to raise once mapping returns.
    """

    def __init__(self, client: ConnectionClient, lookups: dict[str, dict[str, Any]]) -> None:
        self.client = client
        self.lookups = lookups
        self.auth_failure: AuthFailed | None = None
        self._cache: dict[tuple[str, str, bytes | None], Any] = {}

    # -- LookupProvider -------------------------------------------------------------------------

    def lookup(self, lookup: dict[str, Any], value: Any, record: dict[str, Any]) -> Any:
        """The mapper's entry point: raise ``LookupFailure`` when nothing matches."""
        result = self.run(lookup, record)
        if result is MISSING:
            raise LookupFailure(lookup.get("name"))
        return result

    # -- for the import -------------------------------------------------------------------------

    def fetch(self, name: str, record: dict[str, Any]) -> Any:
        """The result of the lookup ``name`` for ``record``, or ``MISSING`` when none matches."""
        definition = self.lookups.get(name)
        if definition is None:
            return MISSING
        if isinstance(definition.get("map"), dict):
            return MISSING  # a static table needs a value; it has none in a URI
        return self.run(definition, record)

    def resolve(self, name: str, record: dict[str, Any]) -> Any:
        """``fetch`` plus ``default``/``allowFailures``; raises the mapper's ``FieldError``."""
        definition = self.lookups.get(name)
        if definition is None:
            return MISSING
        return compile_lookup(definition).resolve(MISSING, record, _Fixed(self.fetch(name, record)))

    def run(self, lookup: dict[str, Any], record: dict[str, Any]) -> Any:
        """Send the lookup's request (cached per record) and read ``extract`` from the answer."""
        relative = lookup.get("relativeURI")
        if not isinstance(relative, str) or not relative:
            raise LookupRequestFailed(
                f"Lookup '{lookup.get('name')}' has no relativeURI (nor a static map)."
            )
        uri = render_placeholders(relative, record, "uri")
        content = self._post_data(lookup.get("postData"), record)
        method = str(lookup.get("method") or ("POST" if content is not None else "GET")).upper()
        key = (method, uri, content)
        if key in self._cache:
            return self._cache[key]
        try:
            response = self.client.request(method, uri, content=content)
        except AuthFailed as exc:
            self.auth_failure = exc
            raise
        body = parse_body(response.content, response.headers.get("content-type", ""))
        if response.status_code == 404:
            result: Any = MISSING
        elif not response.is_success:
            raise LookupRequestFailed(
                f"{method} {uri} answered HTTP {response.status_code}: {body_snippet(body, 200)}"
            )
        else:
            extract = lookup.get("extract")
            result = read_path(body, extract) if isinstance(extract, str) and extract else body
            if result is None or result == "" or result == [] or result == {}:
                result = MISSING
        self._cache[key] = result
        return result

    def _post_data(self, post_data: Any, record: dict[str, Any]) -> bytes | None:
        if post_data is None or post_data == "":
            return None
        if not isinstance(post_data, str):
            post_data = orjson.dumps(post_data).decode()
        return render_placeholders(post_data, record, "body").encode()


class _Fixed:
    """A provider that answers one known result (lets ``resolve`` reuse the mapper's policy)."""

    def __init__(self, result: Any) -> None:
        self.result = result

    def lookup(self, lookup: dict[str, Any], value: Any, record: dict[str, Any]) -> Any:
        if self.result is MISSING:
            raise LookupFailure(lookup.get("name"))
        return self.result
