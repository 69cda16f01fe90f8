"""One Mapper 1.0 field entry → a ``Field``: everything about it decided once, at compile time.

``mapper.py`` checks and compiles each entry of ``mapping.fields`` / ``mapping.lists[].fields``
with ``compile_field``; ``codegen.py`` turns the resulting ``Field`` objects into code.
A mapping that cannot run (an unknown lookup, dataType or timezone) fails here, with the
path of the offending setting, as ``ValidationFailed``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, get_args

from integrator.errors import ValidationFailed
from integrator.mapping import datatypes
from integrator.mapping.datatypes import DATA_TYPES, MISSING, is_empty
from integrator.mapping.lookups import CompiledLookup, LookupProvider
from integrator.mapping.paths import (
    Source,
    compile_getter,
    compile_template,
    element_source,
    parse_path,
    record_source,
    split_star,
    template_parts,
)
from integrator.mapping.templates import render, template_context
from integrator.resources.imports import ConditionWhen

__all__ = [
    "CONDITIONS",
    "Arrays",
    "Field",
    "FieldContext",
    "compile_field",
    "invalid",
    "keys_only",
]

MISSING_FIELD = "missing_required_field"
CONDITIONS: tuple[str, ...] = get_args(ConditionWhen)


class FieldContext(Protocol):
    """What a condition may ask about the record being mapped (``mapper._Context``)."""

    provider: LookupProvider | None
    existing: dict[str, Any] | None
    list_name: str | None


#: ``condition(value, record, out, context)``: map the field only when true.
Condition = Callable[[Any, dict[str, Any], dict[str, Any], FieldContext], bool]


def invalid(where: str, message: str, code: str = "invalid_field") -> ValidationFailed:
    return ValidationFailed.one(code, message, where)


class Arrays:
    """The distinct ``[*]`` arrays one list iterates; fields refer to them by position."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def position(self, path: str) -> int:
        if path not in self.paths:
            self.paths.append(path)
        return self.paths.index(path)


@dataclass(slots=True)
class Field:
    """A compiled field. Exactly one of the ``read_*`` ways of reading is set."""

    generate: str
    #: Object keys of ``generate`` (``billingAddress.city`` → ``["billingAddress", "city"]``).
    target: list[str]
    #: ``extract`` is a path of plain keys in the record.
    read_keys: list[str] | None = None
    #: ``extract`` is ``array[*].key.key`` inside a list: (array position, keys; [] = element).
    read_element: tuple[int, list[str]] | None = None
    #: ``hardCodedValue`` that is not an object or array.
    read_constant: tuple[Any] | None = None
    #: Anything else (templates, numeric indexes, objects to copy): a call.
    read_source: Source | None = None
    #: ``"create"``/``"update"``: only map on that operation; ``"never"``: both were demanded.
    operation: str | None = None
    condition: Condition | None = None
    lookup: CompiledLookup | None = None
    convert: Callable[[Any], Any] | None = None
    discard: bool = False


def keys_only(path: str) -> list[str] | None:
    """``a.b.c`` → ``["a", "b", "c"]``; ``None`` for paths with indexes or ``[*]``."""
    segments = parse_path(path)
    if not segments or any(s.index is not None or s.star for s in segments):
        return None
    return [segment.key for segment in segments]


def _source(path: str, arrays: Arrays | None) -> Source:
    """A placeholder's value: from the record, or (in a list) from the current line's element."""
    star = split_star(path) if arrays is not None else None
    if star is None or arrays is None:
        return record_source(path)
    return element_source(arrays.position(star[0]), star[1])


def _handlebars_source(extract: str) -> Source:
    """An ``extract`` that is a handlebars expression (``{{uppercase name}}``): rendered
    against the record, values unescaped; the result is a string. A template that fails
    fails its record (the mapper reports it as a mapping error)."""

    def read(record: Any, elements: Any) -> Any:
        return render(extract, template_context(record), "text")

    return read


def _reader(field: Field, spec: dict[str, Any], where: str, arrays: Arrays | None) -> None:
    """Decide how ``field`` reads its value: ``extract`` (path or template) or hard-coded."""
    extract = spec.get("extract")
    if extract is None or extract == "":
        if "hardCodedValue" not in spec:
            field.read_constant = (MISSING,)  # a lookup-only field: the lookup reads the record
            return
        constant = spec["hardCodedValue"]
        if isinstance(constant, dict | list):  # each record gets its own copy to mutate
            field.read_source = lambda record, elements: copy.deepcopy(constant)
        else:
            field.read_constant = (constant,)
        return
    if not isinstance(extract, str):
        raise invalid(f"{where}.extract", "extract must be a string (a path or a template).")
    if "{{" in extract:
        field.read_source = _handlebars_source(extract)
        return
    parts = template_parts(extract)
    if parts is not None:
        field.read_source = compile_template(parts, lambda path: _source(path, arrays))
        return
    star = split_star(extract) if arrays is not None else None
    if star is not None and arrays is not None:
        keys = keys_only(star[1]) if star[1] else []
        if keys is not None:
            field.read_element = (arrays.position(star[0]), keys)
            return
    elif (keys := keys_only(extract)) is not None:
        field.read_keys = keys
        return
    field.read_source = _source(extract, arrays)


def _converter(spec: dict[str, Any], where: str) -> Callable[[Any], Any] | None:
    data_type = spec.get("dataType")
    if data_type is None:
        return None
    if data_type not in DATA_TYPES:
        raise invalid(f"{where}.dataType", f"dataType must be one of {', '.join(DATA_TYPES)}.")
    if data_type == "number":
        return datatypes.to_number
    if data_type == "boolean":
        return datatypes.to_boolean
    if data_type == "string":
        return datatypes.to_string
    try:
        return datatypes.date_converter(
            spec.get("extractDateFormat"),
            spec.get("extractDateTimezone"),
            spec.get("generateDateFormat"),
            spec.get("generateDateTimezone"),
        )
    except ValueError as exc:
        raise invalid(f"{where}.dataType", str(exc)) from exc


def find_lookup(name: Any, where: str, lookups: dict[str, CompiledLookup]) -> CompiledLookup:
    if not isinstance(name, str) or name not in lookups:
        raise invalid(where, f"No lookup named '{name}' is defined on this import.")
    return lookups[name]


def _operation(spec: dict[str, Any], when: str | None) -> str | None:
    """``immutable`` and the create/update conditions, which need only the operation."""
    update_only = when == "record_updated"
    create_only = when == "record_created" or bool(spec.get("immutable"))
    if update_only and create_only:
        return "never"
    return "update" if update_only else "create" if create_only else None


def _condition(
    spec: dict[str, Any], when: str | None, where: str, lookups: dict[str, CompiledLookup]
) -> Condition | None:
    """Conditions that need the extracted value, a lookup or what is already set."""
    if when == "extract_not_empty":
        return lambda value, record, out, context: not is_empty(value)
    if when in ("lookup_not_empty", "lookup_empty"):
        conditional = spec.get("conditional") or {}
        name = conditional.get("lookupName") or spec.get("lookupName")
        lookup = find_lookup(name, f"{where}.conditional.lookupName", lookups)
        wanted = when == "lookup_not_empty"

        def check_lookup(
            value: Any, record: dict[str, Any], out: dict[str, Any], context: FieldContext
        ) -> bool:
            return (not is_empty(lookup.find(value, record, context.provider))) is wanted

        return check_lookup
    if when == "ignore_if_set":
        target = compile_getter(spec["generate"])

        def check_unset(
            value: Any, record: dict[str, Any], out: dict[str, Any], context: FieldContext
        ) -> bool:
            existing = context.existing if context.list_name is None else None
            return is_empty(target(out)) and (existing is None or is_empty(target(existing)))

        return check_unset
    return None


def compile_field(
    spec: Any, where: str, lookups: dict[str, CompiledLookup], arrays: Arrays | None
) -> Field:
    """Check one ``mapping.fields[]`` entry and decide everything about it.

    ``arrays`` is given for the fields of a list, whose ``[*]`` paths read the current line.
    """
    if not isinstance(spec, dict):
        raise invalid(where, "Each mapped field is an object.")
    generate = spec.get("generate")
    if not isinstance(generate, str) or not generate:
        raise invalid(f"{where}.generate", "Each mapped field names its target.", MISSING_FIELD)
    conditional = spec.get("conditional")
    when = conditional.get("when") if isinstance(conditional, dict) else None
    if when is not None and when not in CONDITIONS:
        message = f"conditional.when must be one of {', '.join(CONDITIONS)}."
        raise invalid(f"{where}.conditional.when", message)
    lookup_name = spec.get("lookupName") or spec.get("lookup")
    field = Field(
        generate=generate,
        target=[segment.key for segment in parse_path(generate)] or [generate],
        operation=_operation(spec, when),
        condition=_condition(spec, when, where, lookups),
        lookup=find_lookup(lookup_name, f"{where}.lookupName", lookups) if lookup_name else None,
        convert=_converter(spec, where),
        discard=bool(spec.get("discardIfEmpty")),
    )
    _reader(field, spec, where, arrays)
    return field
