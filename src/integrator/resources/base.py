"""What every resource type declares, and the registry the API and store read it from.

A resource type is one module in this package that builds a ``ResourceType``: its pydantic
schema (shape and JSON types), its semantic checks (rules across fields), which fields are
secret, and, for exports and imports, the ``apiIdentifier`` prefix. Nothing here talks HTTP or SQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JSONDict = dict[str, Any]

#: Fields the server owns: ignored when sent, always present when read.
SERVER_FIELDS = ("_id", "createdAt", "lastModified", "apiIdentifier")


class Block(BaseModel):
    """A nested object of a resource document: known fields are type-checked, unknown ones kept.

    Strict mode: ``"50"`` is not an integer and ``"true"`` is not a boolean, so a client that
    sends the wrong JSON type hears about it instead of having it silently converted.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=True)


class Document(Block):
    """Fields common to every resource type."""

    name: str | None = Field(default=None, max_length=500)
    description: str | None = None
    integration_id: str | None = Field(default=None, alias="_integrationId")
    connector_id: str | None = Field(default=None, alias="_connectorId")


Check = Callable[[JSONDict], None]


@dataclass(frozen=True)
class ResourceType:
    """One resource type of the API, e.g. ``exports``.

    ``check`` raises ``ValidationFailed`` (naming the field) for rules the schema cannot state;
    ``normalize`` rewrites accepted aliases to canonical names before anything is stored.
    """

    name: str
    model: type[Document]
    secret_paths: tuple[str, ...] = ()
    api_identifier_prefix: str | None = None
    check: Check | None = None
    normalize: Callable[[JSONDict], JSONDict] | None = None
    #: Top-level fields a JSON Patch may touch; None means any non-server field.
    patchable: frozenset[str] | None = None
    #: Sub-documents stored beside the resource (``/exports/{id}/distributed``).
    extras: tuple[str, ...] = field(default=())
    #: Adds read-only server fields to the document as the API shows it (``view``), given
    #: the resource's id: an export's listener path.
    decorate: Callable[[str, JSONDict], None] | None = None


REGISTRY: dict[str, ResourceType] = {}


def register(resource_type: ResourceType) -> ResourceType:
    REGISTRY[resource_type.name] = resource_type
    return resource_type


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted field path (``rest.method``, ``fields.0.extract``)."""
    return ".".join(str(part) for part in loc)


def validation_failed_from(exc: Any) -> Any:
    """Turn a ``pydantic.ValidationError`` into our ``ValidationFailed`` with field paths."""
    from integrator.errors import ErrorItem, ValidationFailed

    items = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part not in ("body",))
        code = "missing_required_field" if error["type"] == "missing" else "invalid_field"
        items.append(ErrorItem(code, error["msg"], field_path(loc) or None))
    return ValidationFailed(items)


_INT64 = (-(2**63), 2**63 - 1)


#: Deeper documents are refused: integrator.io documents nest a handful of levels, and the
#: serialisers on the way to the database stop at a few hundred.
MAX_DEPTH = 64


def _unstorable(value: Any) -> tuple[str, str] | None:
    """``(dotted path, why)`` of the first value no database can store, else None: an integer
    beyond 64 bits, a number too large for a double (JSON has no infinity), a string or key
    with a NUL character (PostgreSQL refuses those), or nesting deeper than ``MAX_DEPTH``.

    Iterative, so a deeply nested document cannot exhaust the interpreter's stack.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not _INT64[0] <= item <= _INT64[1]:
                return path, "Integers must fit in 64 bits."
        elif isinstance(item, float):
            if not math.isfinite(item):  # 1e400 parses as inf
                return path, "Numbers must be finite."
        elif isinstance(item, str):
            if "\x00" in item:
                return path, "Text cannot contain NUL characters."
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return path, f"Documents may nest at most {MAX_DEPTH} levels."
            if isinstance(item, list):
                stack.extend(
                    (child, f"{path}.{i}" if path else str(i), depth + 1)
                    for i, child in enumerate(item)
                )
                continue
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    where = f"{path}.{key}".lstrip(".").replace("\x00", "\\u0000")
                    return where, "Text cannot contain NUL characters."
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
    return None


def check_json_storable(value: Any) -> None:
    """Raise ``ValidationFailed`` naming the field for a value no database can store (see
    ``_unstorable``), instead of failing, or silently storing ``null``, in the database."""
    from integrator.errors import ValidationFailed

    found = _unstorable(value)
    if found is not None:
        raise ValidationFailed.one("invalid_field", found[1], found[0] or None)


def validate_document(resource_type: ResourceType, payload: Any) -> JSONDict:
    """Validate a client document and return it as it will be stored (before secrets are sealed).

    Server-owned fields are dropped, top-level ``null`` fields are dropped (integrator.io does
    the same), aliases are normalised, then the type's semantic checks run.
    Raises ``ValidationFailed``.
    """
    from pydantic import ValidationError

    from integrator.errors import ValidationFailed

    if not isinstance(payload, dict):
        raise ValidationFailed.one("invalid_field", "The body must be a JSON object.")
    try:
        model = resource_type.model.model_validate(payload)
    except ValidationError as exc:
        raise validation_failed_from(exc) from None
    doc: JSONDict = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
    for key in SERVER_FIELDS:
        doc.pop(key, None)
    doc = {key: value for key, value in doc.items() if value is not None}
    check_json_storable(doc)
    if resource_type.normalize is not None:
        doc = resource_type.normalize(doc)
    if resource_type.check is not None:
        resource_type.check(doc)
    return doc
