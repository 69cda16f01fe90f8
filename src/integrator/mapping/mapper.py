"""The Mapper 1.0 engine: compile ``mapping.fields``/``mapping.lists`` once, map many records.

>>> mapper = compile_mapping({"fields": [
...     {"extract": "{first} {last}", "generate": "contact.name"},
...     {"extract": "age", "generate": "contact.age", "dataType": "number"},
... ]})
>>> mapper.map({"first": "John", "last": "Hancock", "age": "43"})
MapResult(record={'contact': {'name': 'John Hancock', 'age': 43}}, errors=())

Compiling checks every field (``fields.py``), then writes the whole mapping (fields, then each
list as a loop) as one plain Python function (``codegen.py``), so mapping a record costs about
what a hand-written function costs. Errors are collected per record, never raised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from integrator.mapping.codegen import ListPlan, RecordFunction, generate_function
from integrator.mapping.datatypes import FieldError
from integrator.mapping.fields import MISSING_FIELD, Arrays, compile_field, invalid, keys_only
from integrator.mapping.lookups import (
    CompiledLookup,
    LookupProvider,
    compile_lookup,
    import_lookups,
)
from integrator.mapping.paths import compile_getter, parse_path
from integrator.resources.imports import normalize_import

__all__ = ["MapResult", "Mapper", "Operation", "compile_import", "compile_mapping", "map_records"]

Operation = Literal["create", "update"]


@dataclass(slots=True)
class MapResult:
    """A mapped record, or ``record=None`` and the reasons in ``errors``.

    Each error is ``{"code", "message", "source": "mapping", "field"}``; ``field`` is the
    ``generate`` path, with the line for lists (``item[2].rate``). ``errors`` is a tuple:
    an empty list per record kept the garbage collector busy (see docs/mapping.md).
    """

    record: dict[str, Any] | None
    errors: tuple[dict[str, Any], ...] = ()


class _Context:
    """Per-record state the generated code shares: who asks, what for, and where errors go."""

    __slots__ = ("errors", "existing", "line", "list_name", "operation", "provider")

    def __init__(
        self,
        provider: LookupProvider | None,
        operation: Operation,
        existing: dict[str, Any] | None,
    ) -> None:
        self.provider = provider
        self.operation = operation
        self.existing = existing
        self.errors: list[dict[str, Any]] | None = None  # created by the first failure
        self.list_name: str | None = None
        self.line = 0

    def fail(self, generate: str, error: FieldError) -> None:
        where = f"{self.list_name}[{self.line}].{generate}" if self.list_name else generate
        entry = {"code": error.code, "message": error.message, "source": "mapping", "field": where}
        if self.errors is None:
            self.errors = []
        self.errors.append(entry)


def _compile_list(spec: Any, where: str, lookups: dict[str, CompiledLookup]) -> ListPlan:
    """``mapping.lists[i]``: one output line per element of the longest ``[*]`` array.

    Several arrays pair up by index (the shorter ones leave their fields out of the later
    lines); fields without ``[*]`` repeat on every line; a list with no ``[*]`` field has one
    line; when none of its arrays exists in the record, the list is left out.
    """
    if not isinstance(spec, dict):
        raise invalid(where, "Each mapping list is an object.")
    generate = spec.get("generate")
    if not isinstance(generate, str) or not generate:
        message = "Each mapping list names the array it generates."
        raise invalid(f"{where}.generate", message, MISSING_FIELD)
    arrays = Arrays()
    fields = [
        compile_field(entry, f"{where}.fields.{index}", lookups, arrays)
        for index, entry in enumerate(spec.get("fields") or [])
    ]
    return ListPlan(
        generate=generate,
        target=[segment.key for segment in parse_path(generate)] or [generate],
        arrays=[keys_only(path) or compile_getter(path) for path in arrays.paths],
        fields=fields,
    )


class Mapper:
    """A compiled mapping. ``map`` is safe to call from many threads at once."""

    __slots__ = ("map_record", "passthrough", "source")

    def __init__(self, map_record: RecordFunction | None, source: str = "") -> None:
        self.map_record = map_record
        self.passthrough = map_record is None
        #: The generated code (see ``codegen.py``), for reading and debugging.
        self.source = source

    def map(
        self,
        record: dict[str, Any],
        *,
        provider: LookupProvider | None = None,
        operation: Operation = "create",
        existing: dict[str, Any] | None = None,
    ) -> MapResult:
        """Map one record; without a mapping, the record itself comes back unchanged.

        ``operation`` says whether the target record is being created or updated (for
        ``immutable`` and ``conditional``); ``existing`` is the target's current values, when
        the adaptor knows them (for ``conditional.when: ignore_if_set``).
        """
        return self._map(record, _Context(provider, operation, existing))

    def _map(self, record: dict[str, Any], context: _Context) -> MapResult:
        map_record = self.map_record
        if map_record is None:
            return MapResult(record)
        if not isinstance(record, dict):
            message = "A record must be a JSON object."
            error = {"code": "invalid_record", "message": message, "source": "mapping"}
            return MapResult(None, (error,))
        out: dict[str, Any] = {}
        try:
            map_record(record, out, context)
        except Exception as exc:  # one bad record never takes its page down
            context.list_name = None
            context.fail("", FieldError("mapping_error", f"{type(exc).__name__}: {exc}"))
        if context.errors is not None:
            errors, context.errors = context.errors, None
            return MapResult(None, tuple(errors))
        return MapResult(out)

    def map_many(
        self,
        records: Iterable[dict[str, Any]],
        *,
        provider: LookupProvider | None = None,
        operation: Operation = "create",
    ) -> list[MapResult]:
        """``map`` for each record of a page, in order."""
        context = _Context(provider, operation, None)
        return [self._map(record, context) for record in records]


def compile_mapping(
    mapping: dict[str, Any] | None, lookups: Iterable[dict[str, Any]] = ()
) -> Mapper:
    """Compile ``import.mapping`` (either dialect) against the import's lookups.

    A missing mapping, or one with no fields and no lists, passes records through unchanged.
    Raises ``ValidationFailed`` for a mapping that cannot run (unknown lookup or dataType...).
    """
    if not mapping:
        return Mapper(None)
    if not isinstance(mapping, dict):
        raise invalid("mapping", "mapping must be an object with fields and/or lists.")
    mapping = normalize_import({"mapping": mapping})["mapping"]
    compiled: dict[str, CompiledLookup] = {}
    for definition in lookups:
        if isinstance(definition, dict) and isinstance(definition.get("name"), str):
            compiled.setdefault(definition["name"], compile_lookup(definition))
    entries = mapping.get("fields") or []
    fields = [
        compile_field(entry, f"mapping.fields.{index}", compiled, None)
        for index, entry in enumerate(entries)
    ]
    lists = [
        _compile_list(spec, f"mapping.lists.{index}", compiled)
        for index, spec in enumerate(mapping.get("lists") or [])
    ]
    if not fields and not lists:
        return Mapper(None)
    return Mapper(*generate_function(fields, lists))


def compile_import(import_doc: dict[str, Any]) -> Mapper:
    """Compile an import's ``mapping`` with the lookups it defines anywhere in the document."""
    return compile_mapping(import_doc.get("mapping"), import_lookups(import_doc))


def map_records(
    import_doc: dict[str, Any],
    records: list[dict[str, Any]],
    provider: LookupProvider | None = None,
    *,
    operation: Operation = "create",
) -> list[MapResult]:
    """Map a page of records through an import's mapping; one result per record, in order."""
    return compile_import(import_doc).map_many(records, provider=provider, operation=operation)
