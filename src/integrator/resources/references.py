"""Which document fields refer to other resources, and of what type.

A field counts wherever it appears in the document (``_connectionId`` at the top of an export,
``pageGenerators[0]._exportId`` in a flow, ``hooks.preMap._scriptId``). Fields named ``...Ids``
hold lists of ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

REFERENCE_FIELDS: dict[str, str] = {
    "_connectionId": "connections",
    "_borrowConcurrencyFromConnectionId": "connections",
    "_exportId": "exports",
    "_keepDeltaBehindExportId": "exports",
    "_importId": "imports",
    "_flowId": "flows",
    "_keepDeltaBehindFlowId": "flows",
    "_runNextFlowIds": "flows",
    "_integrationId": "integrations",
    "_parentIntegrationId": "integrations",
    "_scriptId": "scripts",
    "_preSavePageId": "scripts",
    "_preMapId": "scripts",
    "_postMapId": "scripts",
    "_postSubmitId": "scripts",
    "_postAggregateId": "scripts",
    "_postResponseMapId": "scripts",
    "_stackId": "stacks",
    "_iClientId": "iclients",
    "_templateId": "templates",
    "_sharedExportIds": "exports",
    "_sharedImportIds": "imports",
}


class Reference(NamedTuple):
    path: str
    to_type: str
    to_id: str


def find_references(doc: Any, prefix: str = "") -> Iterator[Reference]:
    """Every reference in ``doc`` with its dotted path (``pageProcessors.1._importId``)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            path = f"{prefix}{key}"
            target = REFERENCE_FIELDS.get(key)
            if target is not None and isinstance(value, str):
                yield Reference(path, target, value)
            elif target is not None and isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, str):
                        yield Reference(f"{path}.{index}", target, item)
            else:
                yield from find_references(value, path + ".")
    elif isinstance(doc, list):
        for index, item in enumerate(doc):
            yield from find_references(item, f"{prefix}{index}.")
