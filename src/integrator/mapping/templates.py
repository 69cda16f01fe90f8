"""Handlebars templates as integrator.io renders them: ``render(template, context, mode)``.

Relative URIs, HTTP bodies, headers, file names and extracts are handlebars templates
(reference §9). ``{{{value}}}`` always prints the value raw; what ``{{value}}`` does depends on
where the output goes, which is the ``mode``:

* ``"uri"``: URL-encoded as a URI component (``encodeURIComponent``), as integrator.io does
  in relative URIs: ``/search?q={{record.name}}`` with ``"A&B c"`` gives ``q=A%26B%20c``.
* ``"body"``: escaped as the content of a JSON string (quotes, backslashes, control
  characters), so ``{"name": "{{record.name}}"}`` stays valid JSON whatever the name holds.
* ``"plain"``: HTML-escaped exactly as handlebars.js does (``&`` → ``&amp;``, ``=`` →
  ``&#x3D;``), which is what integrator.io does for headers, file names and mapping extracts.

>>> render("/customers/{{id}}?q={{q}}", {"id": 7, "q": "a b"}, mode="uri")
'/customers/7?q=a%20b'

The engine is dotpromptz-handlebars (pure Python) with integrator.io's helpers
(``helpers.py``); values print and compare as in JavaScript (``javascript.py``), so output
matches handlebars.js, which ``tests/mapping/test_handlebars_conformance.py`` checks against
the real thing. A missing field renders "". Templates are compiled once and cached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, cast
from urllib.parse import quote

import orjson
from dotpromptz_handlebars import Node, SafeString, StrictModeError, TagToken
from dotpromptz_handlebars import _render as engine

from integrator.mapping.helpers import HELPERS, LOOKUPS_DATA_KEY, TemplateError
from integrator.mapping.javascript import ABSENT, js_ordered, js_property, js_string

__all__ = ["Mode", "TemplateError", "render", "template_context"]

Mode = Literal["uri", "body", "plain", "text"]
#: How many compiled templates stay cached (an account has a few hundred at most).
CACHE_SIZE = 2048


def _escape_uri(text: str) -> str:
    return quote(text, safe="!'()*-._~")  # exactly encodeURIComponent's unreserved set


def _escape_json(text: str) -> str:
    return orjson.dumps(text).decode()[1:-1]


def _escape_html(text: str) -> str:
    return text.translate(engine._ESCAPE)


_ESCAPERS: dict[str, Callable[[str], str]] = {
    "uri": _escape_uri,
    "body": _escape_json,
    "plain": _escape_html,
    # Values as they are: a mapping extract's handlebars produces a field value, not markup.
    "text": str,
}


# --- the engine, taught JavaScript ---------------------------------------------------------
#
# dotpromptz-handlebars 0.2.0 (pinned exactly in pyproject.toml) escapes only as HTML or not at
# all, and reads values the Python way. Its renderer calls a few module-level functions of
# ``dotpromptz_handlebars._render`` by their global names at render time; replacing some of them
# there gives us custom escaping and JavaScript semantics without forking the engine:
#
# * ``_show(value, raw=, escape_html=)`` prints every ``{{ }}``/``{{{ }}}``. ``escape_html`` is
#   passed through untouched from ``render_program()``, so render() passes the mode's escaping
#   function in it; a bool keeps the engine's own behaviour. Values print as JavaScript would.
# * ``_step(value, part, ...)`` reads one path segment: JavaScript's own properties, so
#   ``{{items.length}}`` and ``{{name.[0]}}`` work as on integrator.io.
# * ``_iterate(items, ...)`` runs ``#each``: objects in JavaScript's key order.
# * ``_push_segment(...)`` parses a path: ``data.0.id`` (integrator.io's AFE 1.0 form) is a path,
#   as handlebars.js reads it; the engine would refuse the ``0``.
# * ``_strip_neighbors``/``_drop_standalone_lines`` end the parse: handlebars.js decides which
#   tags stand alone on their line from the template as written, then applies ``~``, then drops
#   those lines; the engine applied ``~`` first, so ``{{~/each}}`` on its own line kept a newline.
#
# Each replacement delegates to the original where nothing changes. The conformance tests render
# the same templates with handlebars.js, so an engine upgrade that moves these hooks fails them.


def _show(value: Any, *, raw: bool, escape_html: bool | Callable[[str], str]) -> str:
    text = js_string(engine._reject_function(value))
    if raw or isinstance(value, SafeString) or not escape_html:
        return text
    if callable(escape_html):
        return escape_html(text)
    return _escape_html(text)


def _step(current: Any, part: str, *, strict: bool, original: str) -> Any:
    found = js_property(current, part)
    if found is ABSENT:
        if strict:
            raise StrictModeError(original)
        return None
    return found


_engine_iterate = engine._iterate
_engine_push_segment = engine._push_segment


def _iterate(
    items: Any, body: list[Node], inverse: list[Node], params: list[str], env: dict[str, Any]
) -> str:
    if isinstance(items, Mapping):
        items = js_ordered(items)
    return _engine_iterate(items, body, inverse, params, env)


def _push_segment(parts: list[str], buf: list[str], path: str) -> None:
    segment = "".join(buf)
    if segment.isascii() and segment.isdigit():
        parts.append(segment)
        return
    _engine_push_segment(parts, buf, path)


_engine_strip_neighbors = engine._strip_neighbors
_INDENT = re.compile(r"[ \t]+$")
_LINE_END = re.compile(r"^[ \t]*\r?\n?")


def _defer_strip(parts: list[TagToken | str]) -> list[TagToken | str]:
    return parts  # ``~`` is applied in _drop_standalone_lines, once standalone tags are known


def _drop_standalone_lines(parts: list[TagToken | str]) -> list[TagToken | str]:
    standalone = [
        index
        for index, part in enumerate(parts)
        if isinstance(part, TagToken)
        and engine._standalone_tag(part.body)
        and engine._starts_line(parts, index)
        and engine._line_ending_after(parts, index) is not None
    ]
    for index in standalone:
        part = parts[index]
        if isinstance(part, TagToken) and part.body.startswith(">"):
            part.indent = engine._indent_before(parts, index)
    _engine_strip_neighbors(parts)
    for index in standalone:
        before = parts[index - 1] if index else None
        if isinstance(before, str):
            parts[index - 1] = _INDENT.sub("", before)
        after = parts[index + 1] if index + 1 < len(parts) else None
        if isinstance(after, str):
            parts[index + 1] = _LINE_END.sub("", after, count=1)
    return parts


engine._show = _show
engine._step = _step
# Speed only: the engine parses each path (``record.items``) and subexpression again every
# time it is evaluated; both parses are pure functions of the text and nothing mutates them.
engine._parts = lru_cache(maxsize=8192)(engine._parts)
engine._call = lru_cache(maxsize=8192)(engine._call)
engine._iterate = _iterate
engine._push_segment = _push_segment
engine._strip_neighbors = _defer_strip
engine._drop_standalone_lines = _drop_standalone_lines


# --- rendering -----------------------------------------------------------------------------


# Most templates in integrator.io are text with plain paths: ``/customers/{{record.id}}``,
# ``{"name": "{{record.name}}"}``. Those render without the general engine: the compiled form
# is the literal text and, for each ``{{path}}`` or ``{{{path}}}``, its segments, and each value
# is read and printed with the same ``_step``/``_show`` the engine uses. Anything else (blocks,
# helpers, ``this``, ``..``, ``@data``, ``~``, comments, literals) goes to the engine. The tests
# compare both paths on generated templates.
_SEGMENT = r"(?:[A-Za-z_$][A-Za-z0-9_$]*|[0-9]+)"
_SIMPLE_TAG = re.compile(
    r"\{\{(?P<raw>\{)?\s*(?P<path>" + _SEGMENT + r"(?:\." + _SEGMENT + r")*)\s*(?P<close>\})?\}\}"
)
_NOT_PATHS = frozenset({"true", "false", "null", "undefined", "this"})
_BLOCK_NAMES = frozenset({"if", "unless", "each", "with", "lookup", "log"})

#: Literal text, or ``(segments, raw)`` for one value.
SimplePart = str | tuple[tuple[str, ...], bool]


def _simple_parts(template: str) -> list[SimplePart] | None:
    """The template as literal text and plain paths, or None when it needs the engine."""
    parts: list[SimplePart] = []
    position = 0
    while True:
        start = template.find("{{", position)
        if start < 0:
            break
        if start > 0 and template[start - 1] == "\\":
            return None  # \{{ is an escaped mustache
        tag = _SIMPLE_TAG.match(template, start)
        if tag is None or bool(tag["raw"]) != bool(tag["close"]):
            return None
        segments = tuple(tag["path"].split("."))
        first = segments[0]
        if first in _NOT_PATHS or first.isdigit():
            return None
        if len(segments) == 1 and (first in HELPERS or first in _BLOCK_NAMES):
            return None  # {{timestamp}} calls a helper
        if start > position:
            parts.append(template[position:start])
        parts.append((segments, bool(tag["raw"])))
        position = tag.end()
    if position < len(template):
        parts.append(template[position:])
    return parts


@lru_cache(maxsize=CACHE_SIZE)
def _compile(template: str) -> list[SimplePart] | list[Node]:
    # The compiled form does not depend on the mode (escaping happens while rendering), so one
    # cache entry serves all three modes.
    simple = _simple_parts(template)
    if simple is not None:
        return simple
    try:
        return engine.compile_template(template)
    except (ValueError, LookupError, RecursionError) as exc:  # `{{/}}` raises IndexError
        raise TemplateError(f"Invalid handlebars template: {exc}") from exc


def _render_simple(parts: list[SimplePart], context: Any, escape: Callable[[str], str]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        segments, raw = part
        value = context
        for segment in segments:
            value = _step(value, segment, strict=False, original="")
        out.append(_show(engine._reject_function(value), raw=raw, escape_html=escape))
    return "".join(out)


def render(
    template: str,
    context: Any,
    mode: Mode = "plain",
    *,
    lookups: Mapping[str, Callable[[Any], Any]] | None = None,
) -> str:
    """Render ``template`` against ``context`` (usually from ``template_context()``).

    ``lookups`` answers ``{{lookup "name" value}}``: name → function of the value, e.g. an
    import's static lookups. Raises TemplateError for a template that does not parse, an
    unknown helper or a helper that fails.

    >>> render('{{#compare qty ">" 10}}bulk{{else}}single{{/compare}}', {"qty": "9"})
    'single'
    """
    escape = _ESCAPERS.get(mode)
    if escape is None:
        raise ValueError(f"Unknown template mode {mode!r}; use uri, body, plain or text.")
    if "{{" not in template:
        return template
    program = _compile(template)
    if not program or not isinstance(program[0], Node):
        try:
            return _render_simple(cast(list[SimplePart], program), context, escape)
        except (ValueError, TypeError, LookupError, RecursionError) as exc:
            raise TemplateError(f"Cannot render template: {exc}") from exc
    try:
        return engine.render_program(
            program,
            context,
            data={LOOKUPS_DATA_KEY: lookups} if lookups else None,
            helpers=HELPERS,
            partials={},
            # Not a bool: our _show above reads it as the escaping function (see there).
            escape_html=cast(bool, escape),
            strict=False,
        )
    except TemplateError:
        raise
    except (ValueError, TypeError, LookupError, RecursionError) as exc:
        raise TemplateError(f"Cannot render template: {exc}") from exc


def _iso(moment: datetime | str | None) -> str | None:
    """A datetime as JavaScript's ``toISOString()``: ``2024-01-31T09:30:00.000Z``."""
    if not isinstance(moment, datetime):
        return moment
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def template_context(
    record: Any = None,
    *,
    settings: Mapping[str, Any] | None = None,
    connection: Mapping[str, Any] | None = None,
    job: Mapping[str, Any] | None = None,
    export: Mapping[str, Any] | None = None,
    last_export_date_time: datetime | str | None = None,
    current_export_date_time: datetime | str | None = None,
    previous_page: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The context every adaptor renders with, named as integrator.io names it.

    * ``record`` and ``data``: the record (``{{record.id}}`` in AFE 2.0 templates,
      ``{{data.id}}`` in AFE 1.0 ones); its fields are also at the top level for AFE 1.0's bare
      names (``{{id}}``), under the names below, which win.
    * ``settings`` (``{}`` when not given), ``connection``, ``job``.
    * Exports: ``export`` (``{{export.http.paging.page}}``), ``lastExportDateTime`` and
      ``currentExportDateTime`` (datetimes become ISO 8601 in UTC with milliseconds, as
      integrator.io hands them over), ``previous_page`` (``full_response``, ``last_record``,
      ``headers``) for paging templates.

    Only the names given are present, so ``{{{jsonSerialize this}}}`` shows what a template
    can use.

    >>> sorted(template_context({"id": 1}, job={"_id": "j1"}))
    ['data', 'id', 'job', 'record', 'settings']
    """
    context: dict[str, Any] = dict(record) if isinstance(record, Mapping) else {}
    context["record"] = record
    context["data"] = record
    context["settings"] = settings if settings is not None else {}
    optional = {
        "connection": connection,
        "job": job,
        "export": export,
        "lastExportDateTime": _iso(last_export_date_time),
        "currentExportDateTime": _iso(current_export_date_time),
        "previous_page": previous_page,
    }
    context.update((name, value) for name, value in optional.items() if value is not None)
    return context
