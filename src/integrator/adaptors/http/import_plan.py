"""What an HTTP/REST import will do, read once from its document: the request entries (single
or composite add-or-update), lookups, ignore rules, media type, headers and batch size. See
``imports.py`` for how records go through it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from integrator.adaptors.http.client import connection_block
from integrator.adaptors.http.lookups import referenced_lookups
from integrator.mapping import Operation
from integrator.mapping.lookups import import_lookups


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _pick(value: Any, index: int) -> Any:
    """Entry ``index`` of a per-entry setting (a list), or the setting shared by all entries."""
    if isinstance(value, list):
        return value[index] if index < len(value) else None
    return value


@dataclass(slots=True)
class Entry:
    """One request an import can send (a composite import has two)."""

    method: str
    uri: str
    request_type: Operation
    body: str | None = None
    success_path: str | None = None
    success_values: list[str] = field(default_factory=list)
    id_path: str | None = None
    resource_path: str | None = None


class ImportPlan:
    """What an import document says, read once per call."""

    def __init__(self, import_doc: dict[str, Any], connection: Mapping[str, Any]) -> None:
        self.legacy = not isinstance(import_doc.get("http"), dict)
        block = import_doc.get("rest" if self.legacy else "http")
        self.block: dict[str, Any] = block if isinstance(block, dict) else {}
        self.lookups = {lookup["name"]: lookup for lookup in import_lookups(import_doc)}
        self.dynamic = [n for n, d in self.lookups.items() if not isinstance(d.get("map"), dict)]
        self.ignore_existing = bool(import_doc.get("ignoreExisting"))
        self.ignore_missing = bool(import_doc.get("ignoreMissing"))
        self.send_mapped = self.block.get("sendPostMappedData") is not False
        self.batch_size = int(self.block.get("batchSize") or 1)
        media = self.block.get("requestMediaType") or connection_block(connection).get("mediaType")
        self.media = str(media or "json")
        self.headers = [
            (str(h["name"]), str(h.get("value") or ""))
            for h in self.block.get("headers") or []
            if isinstance(h, dict) and h.get("name")
        ]
        self.entries = self._entries()
        self.update_index, self.create_index = self._composite_indexes()
        self.existing_extract = self.block.get("existingExtract")
        self.existing_lookup = self._existing_lookup()

    def _entries(self) -> list[Entry]:
        uris = _as_list(self.block.get("relativeURI")) or [""]
        methods = _as_list(self.block.get("method")) or ["POST"]
        types = [str(t).lower() for t in _as_list(self.block.get("requestType"))]
        response = (
            self.block.get("response") if isinstance(self.block.get("response"), dict) else {}
        )
        response = response or {}
        count = max(len(uris), len(methods))
        entries = []
        for index in range(count):
            method = str(methods[min(index, len(methods) - 1)]).upper()
            if index < len(types) and types[index] in ("create", "update"):
                request_type: Operation = "update" if types[index] == "update" else "create"
            elif count > 1:
                request_type = "update" if index == 0 else "create"
            else:
                request_type = "update" if method in ("PUT", "PATCH") else "create"
            success_values = _pick(response.get("successValues"), index)
            if success_values is None and self.legacy:
                success_values = self.block.get("successValues")
            entries.append(
                Entry(
                    method=method,
                    uri=str(uris[min(index, len(uris) - 1)]),
                    request_type=request_type,
                    body=_pick(self.block.get("body"), index) if not self.legacy else None,
                    success_path=_pick(response.get("successPath"), index)
                    or (self.block.get("successPath") if self.legacy else None),
                    success_values=[str(v) for v in _as_list(success_values)],
                    id_path=_pick(response.get("resourceIdPath"), index)
                    or self.block.get("responseIdPath"),
                    resource_path=_pick(response.get("resourcePath"), index),
                )
            )
        return entries

    def _composite_indexes(self) -> tuple[int | None, int | None]:
        if len(self.entries) < 2:
            return None, None
        kinds = [entry.request_type for entry in self.entries]
        update = kinds.index("update") if "update" in kinds else 0
        create = kinds.index("create") if "create" in kinds else 1
        return update, create

    def _existing_lookup(self) -> str | None:
        for name in (
            self.block.get("existingLookupName"),
            (self.block.get("resourceId") or {}).get("lookupName"),
        ):
            if isinstance(name, str) and name in self.lookups:
                return name
        if self.update_index is not None:
            named = referenced_lookups(self.entries[self.update_index].uri, self.dynamic)
            return named[0] if named else None
        return None
