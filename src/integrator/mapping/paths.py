"""Mapper 1.0 paths: parsing ``extract``/``generate`` and reading values out of records.

Everything here runs once, when a mapping is compiled, and returns small closures that do the
per-record work without re-parsing anything.

Extract syntax (reference §4.5):

* dot paths ``billingAddress.city``; a numeric part indexes an array (``0.id``, also ``lines[0]``);
* ``[Customer Name]`` brackets a key holding dots or spaces;
* ``order_lines[*].sku`` iterates an array (inside ``mapping.lists``: one line per element);
* ``"{first_name} {last_name}"`` is a template: each ``{path}`` is replaced by its value.

>>> get = compile_getter("customer.addresses.0.city")
>>> get({"customer": {"addresses": [{"city": "Oslo"}]}})
'Oslo'
>>> get({"customer": {}})
MISSING
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from integrator.mapping.datatypes import MISSING
from integrator.mapping.javascript import js_string

__all__ = [
    "Getter",
    "Segment",
    "Source",
    "compile_getter",
    "compile_template",
    "element_source",
    "parse_path",
    "record_source",
    "split_star",
    "template_parts",
]

Getter = Callable[[Any], Any]
#: Where a mapped value comes from: called with the record and the current list line's elements.
Source = Callable[[Any, tuple[Any, ...]], Any]

_SEGMENT = re.compile(r"\[([^\]]*)\]|([^.\[]+)|\.")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True, slots=True)
class Segment:
    """One step of a path: a key (``index`` set when it is all digits) or ``[*]``."""

    key: str
    index: int | None = None
    star: bool = False


def parse_path(path: str) -> tuple[Segment, ...]:
    """``'lines[*].item.0'`` → ``(lines, *, item, 0)``. A trailing or doubled dot is ignored."""
    segments: list[Segment] = []
    for match in _SEGMENT.finditer(path):
        bracketed, plain = match.group(1), match.group(2)
        if bracketed == "*":
            segments.append(Segment("*", star=True))
        elif bracketed is not None:
            index = int(bracketed) if bracketed.isdigit() else None
            segments.append(Segment(bracketed, index))
        elif plain is not None:
            segments.append(Segment(plain, int(plain) if plain.isdigit() else None))
    return tuple(segments)


def split_star(path: str) -> tuple[str, str] | None:
    """``'order_lines[*].sku'`` → ``('order_lines', 'sku')``; ``None`` when there is no ``[*]``."""
    head, star, tail = path.partition("[*]")
    if not star:
        return None
    return head, tail[1:] if tail.startswith(".") else tail


def _step(value: Any, segment: Segment) -> Any:
    if type(value) is dict:
        return value.get(segment.key, MISSING)
    if type(value) is list and segment.index is not None and segment.index < len(value):
        return value[segment.index]
    return MISSING


def _walk(value: Any, segments: tuple[Segment, ...]) -> Any:
    for position, segment in enumerate(segments):
        if segment.star:
            items = value if type(value) is list else [value] if type(value) is dict else []
            rest = segments[position + 1 :]
            found = [_walk(item, rest) for item in items]
            return [item for item in found if item is not MISSING]
        value = _step(value, segment)
        if value is MISSING:
            return MISSING
    return value


def compile_getter(path: str) -> Getter:
    """A function returning the value at ``path``, or ``MISSING``. Short paths get fast code.

    A ``[*]`` outside a list collects the values of every element into an array.
    An empty path returns the value itself (``order_lines[*]`` inside a list is the element).
    """
    segments = parse_path(path)
    if any(segment.star for segment in segments):
        return lambda value: _walk(value, segments)
    if not segments:
        return lambda value: value
    if len(segments) == 1 and segments[0].index is None:
        key = segments[0].key

        def get_key(value: Any) -> Any:
            return value.get(key, MISSING) if type(value) is dict else MISSING

        return get_key
    if len(segments) == 2 and segments[0].index is None and segments[1].index is None:
        first, second = segments[0].key, segments[1].key

        def get_two(value: Any) -> Any:
            if type(value) is dict:
                inner = value.get(first)
                if type(inner) is dict:
                    return inner.get(second, MISSING)
            return MISSING

        return get_two

    def get_path(value: Any) -> Any:
        for segment in segments:
            value = _step(value, segment)
            if value is MISSING:
                return MISSING
        return value

    return get_path


def record_source(path: str) -> Source:
    """``compile_getter`` as a ``Source`` over the record; one call deep for key-only paths."""
    segments = parse_path(path)
    if segments and not any(s.index is not None or s.star for s in segments):
        keys = tuple(segment.key for segment in segments)
        if len(keys) == 1:
            key = keys[0]
            return lambda record, elements: record.get(key, MISSING)
        first, rest = keys[0], keys[1:]

        def key_path(record: Any, elements: tuple[Any, ...]) -> Any:
            value = record.get(first, MISSING)
            for key in rest:
                if type(value) is not dict:
                    return MISSING
                value = value.get(key, MISSING)
            return value

        return key_path
    get = compile_getter(path)
    return lambda record, elements: get(record)


def element_source(position: int, path: str) -> Source:
    """A ``Source`` reading ``path`` inside the current list line's element ``position``."""
    segments = parse_path(path)
    if not segments:
        return lambda record, elements: elements[position]
    if len(segments) == 1 and segments[0].index is None:
        key = segments[0].key

        def one_key(record: Any, elements: tuple[Any, ...]) -> Any:
            element = elements[position]
            return element.get(key, MISSING) if type(element) is dict else MISSING

        return one_key
    get = compile_getter(path)
    return lambda record, elements: get(elements[position])


def template_parts(extract: str) -> list[str] | None:
    """``'Issue-{id}: {name}'`` → ``['Issue-', 'id', ': ', 'name', '']`` (odd items are paths).

    ``None`` when ``extract`` has no ``{placeholder}``, i.e. it is a plain path.
    """
    parts = _PLACEHOLDER.split(extract)
    return parts if len(parts) > 1 else None


def render_piece(value: Any) -> str:
    """A placeholder's text, as JavaScript concatenation prints it; absent and null are ""."""
    if value is MISSING:
        return ""
    return js_string(value)


def compile_template(parts: list[str], source_for: Callable[[str], Source]) -> Source:
    """A source rendering the template; ``source_for(path)`` compiles each placeholder.

    Sources take ``(record, elements)`` so a placeholder may also read the current line of a
    list (``{order_lines[*].sku}``).
    """
    literals = parts[0::2]
    sources = [source_for(path.strip()) for path in parts[1::2]]
    pairs = list(zip(sources, literals[1:], strict=True))
    head = literals[0]

    def render(record: Any, elements: tuple[Any, ...]) -> str:
        out = [head]
        for source, literal in pairs:
            value = source(record, elements)
            out.append(value if type(value) is str else render_piece(value))
            out.append(literal)
        return "".join(out)

    return render
