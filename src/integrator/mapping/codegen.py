"""Compiled fields and lists → one Python function that maps a record, written out in full.

Mapping sits on the hot path of every import, so a mapping is compiled to the function a
developer would write by hand for it, e.g. for ``customer.email`` → ``entity.email``::

    def map_record(record, out, context):
        get = record.get
        # fields.0
        value = get(_k0, MISSING)
        value = value.get(_k1, MISSING) if type(value) is dict else MISSING
        if value is not MISSING:
            parent0 = out.get(_k2)
            if type(parent0) is not dict:
                parent0 = out[_k2] = {}
            parent0[_k3] = value

and a list becomes a ``for`` loop over its ``[*]`` array(s). No text from the mapping ever
becomes code: keys, lookups, converters and messages are bound as constants (``_k0``,
``_f1``...) in the function's namespace; the code is built only from the fixed snippets below
and integers. ``Mapper.source`` shows what was generated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from integrator.mapping.datatypes import MISSING, FieldError, is_empty
from integrator.mapping.fields import Field
from integrator.mapping.paths import Getter

__all__ = ["ListPlan", "RecordFunction", "generate_function"]

#: ``function(record, out, context)``: write every mapped field of ``record`` into ``out``.
RecordFunction = Callable[[dict[str, Any], dict[str, Any], Any], None]


@dataclass(slots=True)
class ListPlan:
    """A compiled ``mapping.lists[]`` entry: its target, its ``[*]`` arrays and its fields."""

    generate: str
    target: list[str]
    #: For each distinct ``[*]`` array: its keys when it is a plain path, else a getter.
    arrays: list[list[str] | Getter]
    fields: list[Field]


class _Writer:
    """Collects lines of code and the constants they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "MISSING": MISSING,
            "FieldError": FieldError,
            "is_empty": is_empty,
            "zip_longest": zip_longest,
        }

    def constant(self, value: Any, prefix: str = "_k") -> str:
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def line(self, depth: int, code: str) -> None:
        self.lines.append("    " * depth + code)

    def keys(self, depth: int, variable: str, keys: list[str]) -> None:
        """``variable = variable[k1][k2]...``, ``MISSING`` as soon as a step is not an object."""
        for key in keys:
            name = self.constant(key)
            self.line(
                depth,
                f"{variable} = {variable}.get({name}, MISSING) "
                f"if type({variable}) is dict else MISSING",
            )

    def store(self, depth: int, holder: str, target: list[str], variable: str) -> None:
        """``holder[t1][t2]... = variable``, creating objects on the way (replacing non-objects)."""
        *parents, last = target
        for level, key in enumerate(parents):
            name, parent = self.constant(key), f"parent{level}"
            self.line(depth, f"{parent} = {holder}.get({name})")
            self.line(depth, f"if type({parent}) is not dict:")
            self.line(depth + 1, f"{parent} = {holder}[{name}] = {{}}")
            holder = parent
        self.line(depth, f"{holder}[{self.constant(last)}] = {variable}")


def _read(writer: _Writer, field: Field, depth: int) -> None:
    """Code that leaves the field's source value (or ``MISSING``) in ``value``."""
    if field.read_keys is not None:
        first, *keys = field.read_keys
        writer.line(depth, f"value = get({writer.constant(first)}, MISSING)")
        writer.keys(depth, "value", keys)
    elif field.read_element is not None:
        position, keys = field.read_element
        writer.line(depth, f"value = e{int(position)}")
        writer.keys(depth, "value", keys)
    elif field.read_constant is not None:
        writer.line(depth, f"value = {writer.constant(field.read_constant[0], '_v')}")
    else:
        writer.line(depth, f"value = {writer.constant(field.read_source, '_s')}(record, row)")


def _guarded(writer: _Writer, field: Field, depth: int, call: str) -> None:
    """``value = call``; a ``FieldError`` becomes the record's error and the field is skipped."""
    writer.line(depth, "try:")
    writer.line(depth + 1, f"value = {call}")
    writer.line(depth, "except FieldError as error:")
    writer.line(depth + 1, f"context.fail({writer.constant(field.generate)}, error)")
    writer.line(depth + 1, "value = MISSING")


def _lookup(writer: _Writer, field: Field, depth: int) -> None:
    """The lookup; a static table is tried inline first, the policy (default...) by ``resolve``."""
    assert field.lookup is not None
    lookup = writer.constant(field.lookup, "_l")
    call = f"{lookup}.resolve(value, record, context.provider)"
    if field.lookup.table is None:
        _guarded(writer, field, depth, call)
        return
    table = writer.constant(field.lookup.table, "_t")
    writer.line(depth, f"found = {table}.get(value, MISSING) if type(value) is str else MISSING")
    writer.line(depth, "if found is not MISSING:")
    writer.line(depth + 1, "value = found")
    writer.line(depth, "else:")
    _guarded(writer, field, depth + 1, call)


def _field(writer: _Writer, field: Field, label: str, holder: str, depth: int) -> None:
    writer.line(depth, f"# {label}")
    if field.operation == "never":
        return
    if field.operation is not None:
        operation = "create" if field.operation == "create" else "update"
        writer.line(depth, f'if context.operation == "{operation}":')
        depth += 1
    _read(writer, field, depth)
    if field.condition is not None:
        condition = writer.constant(field.condition, "_f")
        writer.line(depth, f"if {condition}(value, record, {holder}, context):")
        depth += 1
    if field.lookup is not None:
        _lookup(writer, field, depth)
        # A lookup that found nothing (and may fail) leaves the field out, whatever its dataType.
        writer.line(depth, "if value is not MISSING:")
        depth += 1
    if field.convert is not None:
        _guarded(writer, field, depth, f"{writer.constant(field.convert, '_f')}(value)")
    writer.line(depth, "if not is_empty(value):" if field.discard else "if value is not MISSING:")
    writer.store(depth + 1, holder, field.target, "value")


def _list(writer: _Writer, plan: ListPlan, index: int) -> None:
    """One output line per element of the longest array; arrays pair up by index."""
    writer.line(1, f"# lists.{int(index)}")
    columns = []
    for position, array in enumerate(plan.arrays):
        column = f"c{int(position)}"
        columns.append(column)
        if isinstance(array, list):
            first, *keys = array
            writer.line(1, f"{column} = get({writer.constant(first)})")
            writer.keys(1, column, keys)
        else:
            writer.line(1, f"{column} = {writer.constant(array, '_g')}(record)")
        # One object where an array was expected (common after XML) makes one line.
        writer.line(1, f"if type({column}) is not list:")
        writer.line(2, f"{column} = [{column}] if type({column}) is dict else None")
    depth = 1
    if columns:
        writer.line(1, f"if {' or '.join(f'{c} is not None' for c in columns)}:")
        depth = 2
    writer.line(depth, "lines = []")
    writer.line(depth, f"context.list_name = {writer.constant(plan.generate)}")
    elements = ", ".join(f"e{position}" for position in range(len(columns)))
    if not columns:
        writer.line(depth, "for index, row in enumerate(((),)):")
    elif len(columns) == 1:
        writer.line(depth, "for index, e0 in enumerate(c0):")
    else:
        padded = ", ".join(f"{column} or ()" for column in columns)
        writer.line(
            depth,
            f"for index, ({elements}) in enumerate(zip_longest({padded}, fillvalue=MISSING)):",
        )
    writer.line(depth + 1, "context.line = index")
    writer.line(depth + 1, "line = {}")
    if columns and any(field.read_source is not None for field in plan.fields):
        writer.line(depth + 1, f"row = ({elements},)")
    for number, field in enumerate(plan.fields):
        _field(writer, field, f"lists.{int(index)}.fields.{int(number)}", "line", depth + 1)
    writer.line(depth + 1, "lines.append(line)")
    writer.line(depth, "context.list_name = None")
    writer.store(depth, "out", plan.target, "lines")


def generate_function(fields: list[Field], lists: list[ListPlan]) -> tuple[RecordFunction, str]:
    """The function mapping ``fields`` then ``lists``, and its source (for ``Mapper.source``)."""
    writer = _Writer()
    writer.line(0, "def map_record(record, out, context):")
    writer.line(1, "get = record.get")
    writer.line(1, "row = ()")
    for index, field in enumerate(fields):
        _field(writer, field, f"fields.{int(index)}", "out", 1)
    for index, plan in enumerate(lists):
        _list(writer, plan, index)
    source = "\n".join(writer.lines) + "\n"
    exec(compile(source, "<mapping>", "exec"), writer.namespace)
    function: RecordFunction = writer.namespace["map_record"]
    return function, source
