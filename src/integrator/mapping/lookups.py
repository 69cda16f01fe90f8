"""Lookups used by mapped fields (reference §4.4): static ``map`` tables here, the rest delegated.

A static lookup translates a value through its ``map``::

    {"name": "currencyMap", "map": {"USA": "USD", "UK": "GBP"}, "default": "EUR"}

Every other lookup (a REST call with ``relativeURI``/``extract``, a NetSuite search with
``recordType``/``searchField``/``resultField``...) needs I/O, which ``mapping/`` must not do: the
caller passes a ``LookupProvider`` (an adaptor) that runs it. Either way, when nothing is found:

1. ``default`` is used when the lookup has one;
2. otherwise, with ``allowFailures`` true (``true`` or ``"true"``), the field is left out;
3. otherwise the record fails with a ``lookup_failed`` error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from integrator.mapping.datatypes import MISSING, FieldError, js_string

__all__ = [
    "CompiledLookup",
    "LookupFailure",
    "LookupProvider",
    "compile_lookup",
    "import_lookups",
    "is_truthy_flag",
]

#: The blocks of an import document that may hold ``lookups`` (and the document itself).
LOOKUP_BLOCKS = ("rest", "http", "netsuite", "netsuite_da", "salesforce", "file", "wrapper")


class LookupFailure(Exception):
    """Raised by a provider when the lookup found no match (or several, if that is an error)."""


@runtime_checkable
class LookupProvider(Protocol):
    """Runs dynamic lookups for the mapper; implemented by adaptors (HTTP, NetSuite...).

    ``lookup`` is the lookup's definition as the import stores it, ``value`` the field's
    extracted value (``None`` when the field has no ``extract``, e.g. a lookup whose expression
    reads the record), ``record`` the source record, for ``{field}`` placeholders.
    Return the result; raise ``LookupFailure`` when nothing matches (returning ``None`` means
    the same). Any other exception becomes a ``lookup_error`` on that record only.
    """

    def lookup(self, lookup: dict[str, Any], value: Any, record: dict[str, Any]) -> Any: ...


def is_truthy_flag(flag: Any) -> bool:
    """``allowFailures`` as the seeds send it: ``true`` or the string ``"true"``."""
    return flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")


def import_lookups(import_doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every lookup an import defines: top-level ``lookups`` and ``rest``/``http``/``netsuite``...

    >>> import_lookups({"lookups": [{"name": "a"}], "rest": {"lookups": [{"name": "b"}]}})
    [{'name': 'a'}, {'name': 'b'}]
    """
    found: list[dict[str, Any]] = []
    blocks: Iterable[Any] = [import_doc, *(import_doc.get(name) for name in LOOKUP_BLOCKS)]
    for block in blocks:
        lookups = block.get("lookups") if isinstance(block, dict) else None
        for lookup in lookups if isinstance(lookups, list) else []:
            if isinstance(lookup, dict) and isinstance(lookup.get("name"), str):
                found.append(lookup)
    return found


class CompiledLookup:
    """One lookup, ready to answer for many records."""

    __slots__ = ("allow_failures", "default", "definition", "has_default", "name", "table")

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.name: str = definition["name"]
        table = definition.get("map")
        self.table: dict[str, Any] | None = table if isinstance(table, dict) else None
        # A stored ``"default": null`` reads as "no default", as an unset field would.
        self.has_default = definition.get("default") is not None
        self.default = definition.get("default")
        self.allow_failures = is_truthy_flag(definition.get("allowFailures"))

    @property
    def is_static(self) -> bool:
        return self.table is not None

    def find(self, value: Any, record: dict[str, Any], provider: LookupProvider | None) -> Any:
        """The match for ``value``, or ``MISSING`` when there is none. Raises ``FieldError``."""
        if self.table is not None:
            if value is MISSING:
                return MISSING
            return self.table.get(js_string(value), MISSING)
        if provider is None:
            raise FieldError(
                "lookup_unavailable",
                f"Lookup '{self.name}' is not a static map and no lookup provider was given.",
            )
        try:
            result = provider.lookup(self.definition, None if value is MISSING else value, record)
        except LookupFailure:
            return MISSING
        except Exception as exc:  # a provider's I/O error fails this record, not the page
            raise FieldError("lookup_error", f"Lookup '{self.name}' failed: {exc}") from exc
        return MISSING if result is None else result

    def resolve(self, value: Any, record: dict[str, Any], provider: LookupProvider | None) -> Any:
        """``find`` plus the no-match policy: the default, ``MISSING`` (field left out) or error."""
        result = self.find(value, record, provider)
        if result is not MISSING:
            return result
        if self.has_default:
            return self.default
        if self.allow_failures:
            return MISSING
        shown = "no value" if value is MISSING else f"'{js_string(value)}'"
        raise FieldError("lookup_failed", f"Lookup '{self.name}' found no match for {shown}.")


def compile_lookup(definition: dict[str, Any]) -> CompiledLookup:
    """Prepare one lookup definition (it must have a ``name``)."""
    return CompiledLookup(definition)
