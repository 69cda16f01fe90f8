"""``/v1/imports``: where data goes — API calls, NetSuite records, files — and how it is mapped.

Reference §2.3 and §4. Mapper 1.0 (``mapping.fields``/``mapping.lists``) is canonical here;
seed 003's dialect (``mapping.fieldMapping`` with ``eField``/``gField``) is accepted and
rewritten to it by ``normalize_import`` before anything is stored, so the engine reads one shape.
Legacy REST imports may be composite: ``rest.relativeURI`` and ``rest.method`` are lists paired
by position (update first, create second).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from integrator.errors import ValidationFailed
from integrator.resources.base import Block, Document, ResourceType, register
from integrator.resources.connections import NameValue, either
from integrator.resources.exports import HookRef, check_hooks

#: The seed documents send ``"allowFailures": "false"``: a string where a boolean is meant.
LooseBool = Annotated[bool | Literal["true", "false"], either('a boolean (or "true"/"false")')]
StrOrList = Annotated[str | list[str], either("a string or a list of strings")]

ImportMethod = Literal["PUT", "POST", "PATCH", "DELETE", "GET"]
MethodOrList = Annotated[
    ImportMethod | list[ImportMethod],
    either("one of PUT, POST, PATCH, DELETE, GET, or a list of them"),
]
RequestType = Literal["CREATE", "UPDATE"]
RequestTypeOrList = Annotated[
    RequestType | list[RequestType], either("CREATE, UPDATE, or a list of them")
]

#: The seed-003 spelling of Mapper 1.0 field names, and the canonical name of each.
FIELD_ALIASES = {"eField": "extract", "gField": "generate"}
#: A mapped field takes its value from at least one of these (``lookup`` is in the seeds' table).
FIELD_SOURCES = ("extract", "hardCodedValue", "lookupName", "lookup")


class Lookup(Block):
    """A named lookup (reference §4.4): a static ``map``, or a dynamic search / API call.

    ``allowFailures`` true: no match gives ``default`` (or ""); false: no match is a record error.
    """

    name: str
    map: dict[str, Any] | None = None
    default: Any = None
    allowFailures: LooseBool | None = None
    # NetSuite searches
    recordType: str | None = None
    searchField: str | None = None
    resultField: str | None = None
    operator: str | None = None
    lookupOperator: str | None = None
    expression: Any = None
    includeInactive: LooseBool | None = None
    useDefaultOnMultipleMatches: bool | None = None
    # REST calls: {field} placeholders come from the record; extract is a path into the response
    relativeURI: str | None = None
    method: Literal["GET", "POST"] | None = None
    postData: Any = None
    extract: str | None = None
    lookup_cache_id: str | None = Field(default=None, alias="_lookupCacheId")


#: ``conditional.when`` values (the mapping engine implements each).
ConditionWhen = Literal[
    "record_created",
    "record_updated",
    "extract_not_empty",
    "lookup_not_empty",
    "lookup_empty",
    "ignore_if_set",
]


class Conditional(Block):
    when: ConditionWhen | None = None
    lookupName: str | None = None


class MappingField(Block):
    """One Mapper 1.0 field: ``generate`` (target path) from ``extract`` / ``hardCodedValue``.

    ``generate`` is checked after normalisation, because seed 003 spells it ``gField``.
    ``extract`` may be a path (``billingAddress.city``), a template (``"{first} {last}"``) or,
    inside a list, an array path (``order_lines[*].sku``). ``hardCodedValue`` keeps its JSON type.
    """

    extract: str | None = None
    generate: str | None = None
    hardCodedValue: Any = None
    lookupName: str | None = None
    dataType: Literal["string", "number", "boolean", "date"] | None = None
    extractDateFormat: str | None = None
    extractDateTimezone: str | None = None
    generateDateFormat: str | None = None
    generateDateTimezone: str | None = None
    immutable: bool | None = None
    internalId: bool | None = None
    discardIfEmpty: bool | None = None
    isKey: bool | None = None
    conditional: Conditional | None = None
    eField: str | None = Field(default=None, description="Seed-003 alias of extract.")
    gField: str | None = Field(default=None, description="Seed-003 alias of generate.")


class MappingList(Block):
    """Builds the array ``generate`` with one element per element of the source ``[*]`` array."""

    generate: str | None = None
    jsonPath: str | None = None
    fields_: list[MappingField] | None = Field(default=None, alias="fields")
    fieldMapping: list[MappingField] | None = None


class Mapping(Block):
    """Mapper 1.0: with a mapping, only the mapped fields reach the target system."""

    fields_: list[MappingField] | None = Field(default=None, alias="fields")
    lists: list[MappingList] | None = None
    fieldMapping: list[MappingField] | None = Field(
        default=None, description="Seed-003 alias of fields; stored as fields."
    )


class ImportHooks(Block):
    preMap: HookRef | None = None
    postMap: HookRef | None = None
    postSubmit: HookRef | None = None
    postAggregate: HookRef | None = None
    pre_map_id: str | None = Field(default=None, alias="_preMapId")
    post_map_id: str | None = Field(default=None, alias="_postMapId")
    post_submit_id: str | None = Field(default=None, alias="_postSubmitId")
    post_aggregate_id: str | None = Field(default=None, alias="_postAggregateId")


class ResourceIdSource(Block):
    lookupName: str | None = None
    extract: str | None = None


class RestImport(Block):
    """Legacy REST import (§4.2); lists in ``relativeURI`` and ``method`` make it composite."""

    relativeURI: StrOrList | None = None
    method: MethodOrList | None = None
    headers: list[NameValue] | None = None
    responseIdPath: str | None = None
    successPath: str | None = None
    ignoreLookupName: str | None = None
    ignoreExtract: str | None = None
    resourceId: ResourceIdSource | None = None
    lookups: list[Lookup] | None = None


class HttpImport(Block):
    """Modern HTTP import: composite entries are aligned by position with ``requestType``."""

    relativeURI: StrOrList | None = None
    method: MethodOrList | None = None
    requestType: RequestTypeOrList | None = None
    existingExtract: str | None = None
    existingLookupName: str | None = None
    headers: list[NameValue] | None = None
    requestMediaType: Literal["json", "xml", "urlencoded", "form-data", "plaintext"] | None = None
    body: Any = None
    sendPostMappedData: bool | None = None
    batchSize: int | None = Field(default=None, ge=1)
    ignoreEmptyNodes: bool | None = None
    strictHandlebarEvaluation: bool | None = None
    ignoreLookupName: str | None = None
    ignoreExtract: str | None = None
    successMediaType: Literal["json", "xml", "csv", "plaintext"] | None = None
    errorMediaType: Literal["json", "xml", "plaintext"] | None = None
    response: dict[str, Any] | None = None
    lookups: list[Lookup] | None = None


class NetSuiteImport(Block):
    recordType: str | None = None
    operation: str | None = None
    internalIdLookup: dict[str, Any] | None = None
    lookups: list[Lookup] | None = None
    customFieldMetadata: dict[str, Any] | None = None


class FileImport(Block):
    type: str | None = None
    skipAggregation: bool | None = None
    compressionFormat: str | None = None
    csv: dict[str, Any] | None = None
    lookups: list[Lookup] | None = None


class Import(Document):
    """``/v1/imports``. ``distributed: true`` keeps the NetSuite configuration in a sub-document."""

    connection_id: str | None = Field(default=None, alias="_connectionId")
    adaptorType: str | None = None
    distributed: bool | None = None
    sampleData: Any = None
    maxAttempts: int | None = Field(default=None, ge=0)
    ignoreExisting: bool | None = None
    ignoreMissing: bool | None = None
    idLockTemplate: str | None = None
    dataURITemplate: str | None = None
    traceKeyTemplate: str | None = None
    oneToMany: bool | None = None
    pathToMany: str | None = None
    blobKeyPath: str | None = None
    filter: Any = None
    mapping: Mapping | None = None
    mappings: list[dict[str, Any]] | None = None
    lookups: list[Lookup] | None = None
    hooks: ImportHooks | None = None
    responseTransform: Any = None
    settings: dict[str, Any] | None = None
    configuration: dict[str, Any] | None = None
    debugUntil: str | None = None
    rest: RestImport | None = None
    http: HttpImport | None = None
    netsuite: NetSuiteImport | None = None
    file: FileImport | None = None
    ftp: dict[str, Any] | None = None
    s3: dict[str, Any] | None = None
    wrapper: dict[str, Any] | None = None


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed.one("invalid_field", message, field)


def _canonical_entry(entry: Any, path: str) -> Any:
    """``{"eField": "first", "gField": "firstName", ...}`` → ``{"extract", "generate", ...}``."""
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    for alias, canonical in FIELD_ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            if canonical in out and out[canonical] != value:
                raise _invalid(f"{path}.{alias}", f"Give {canonical} or {alias}, not both.")
            out[canonical] = value
    return out


def _canonical_fields(container: dict[str, Any], path: str) -> dict[str, Any]:
    """Rename ``fieldMapping`` to ``fields`` and each entry's aliases to canonical names."""
    out = dict(container)
    if "fieldMapping" in out:
        if "fields" in out:
            raise _invalid(f"{path}.fieldMapping", "Give fields or fieldMapping, not both.")
        out["fields"] = out.pop("fieldMapping")
    if isinstance(out.get("fields"), list):
        out["fields"] = [
            _canonical_entry(entry, f"{path}.fields.{index}")
            for index, entry in enumerate(out["fields"])
        ]
    return out


def normalize_import(doc: dict[str, Any]) -> dict[str, Any]:
    """Rewrite seed 003's mapping dialect to Mapper 1.0; ``mapping.name`` and the rest are kept.

    >>> normalize_import({"mapping": {"fieldMapping": [{"eField": "a", "gField": "b"}]}})
    {'mapping': {'fields': [{'extract': 'a', 'generate': 'b'}]}}
    """
    mapping = doc.get("mapping")
    if not isinstance(mapping, dict):
        return doc
    mapping = _canonical_fields(mapping, "mapping")
    if isinstance(mapping.get("lists"), list):
        mapping["lists"] = [
            _canonical_fields(item, f"mapping.lists.{index}") if isinstance(item, dict) else item
            for index, item in enumerate(mapping["lists"])
        ]
    return {**doc, "mapping": mapping}


def _mapped_fields(mapping: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every mapped field with its dotted path, top-level fields first, then each list's."""
    found: list[tuple[str, dict[str, Any]]] = []
    for index, field in enumerate(mapping.get("fields") or []):
        found.append((f"mapping.fields.{index}", field))
    for list_index, item in enumerate(mapping.get("lists") or []):
        if not item.get("generate"):
            raise ValidationFailed.one(
                "missing_required_field",
                "Each mapping list names the array it generates.",
                f"mapping.lists.{list_index}.generate",
            )
        for index, field in enumerate(item.get("fields") or []):
            found.append((f"mapping.lists.{list_index}.fields.{index}", field))
    return found


def lookup_names(doc: dict[str, Any]) -> set[str]:
    """Names of the lookups defined at the top (``lookups``) or in any adaptor block."""
    names: set[str] = set()
    blocks = [doc, *(value for value in doc.values() if isinstance(value, dict))]
    for block in blocks:
        lookups = block.get("lookups")
        for lookup in lookups if isinstance(lookups, list) else []:
            if isinstance(lookup, dict) and isinstance(lookup.get("name"), str):
                names.add(lookup["name"])
    return names


def _check_mapping(doc: dict[str, Any]) -> None:
    """Each field has a target and a source; each ``lookupName`` names a defined lookup.

    A distributed import keeps its lookups (and usually its mapping) in the distributed
    sub-document, which is stored apart from the import, so its lookup names are not checked
    here (seed 000's NetSuite example defines them there).
    """
    mapping = doc.get("mapping")
    if not isinstance(mapping, dict):
        return
    known = None if doc.get("distributed") else lookup_names(doc)
    for path, field in _mapped_fields(mapping):
        if not field.get("generate"):
            raise ValidationFailed.one(
                "missing_required_field", "Each mapped field names its target.", f"{path}.generate"
            )
        if not any(source in field for source in FIELD_SOURCES):
            raise ValidationFailed.one(
                "missing_required_field",
                "A mapped field needs extract, hardCodedValue or lookupName.",
                f"{path}.extract",
            )
        conditional = field.get("conditional")
        references = [(f"{path}.lookupName", field.get("lookupName"))]
        if isinstance(conditional, dict):
            references.append((f"{path}.conditional.lookupName", conditional.get("lookupName")))
        for ref_path, name in references:
            if known is not None and name is not None and name not in known:
                raise _invalid(ref_path, f"No lookup named '{name}' is defined on this import.")


def _check_composite(doc: dict[str, Any]) -> None:
    """Composite imports pair ``relativeURI[i]``, ``method[i]`` (and ``requestType[i]``)."""
    for block_name in ("rest", "http"):
        block = doc.get(block_name)
        if not isinstance(block, dict):
            continue
        lists = {
            key: block[key]
            for key in ("relativeURI", "method", "requestType")
            if isinstance(block.get(key), list)
        }
        for key, value in lists.items():
            if not value:
                raise _invalid(f"{block_name}.{key}", f"{block_name}.{key} must not be empty.")
        first_key, first = next(iter(lists.items()), ("", []))
        for key, value in lists.items():
            if len(value) != len(first):
                raise _invalid(
                    f"{block_name}.{key}",
                    f"{block_name}.{first_key} has {len(first)} entries but "
                    f"{block_name}.{key} has {len(value)}; composite entries pair by position.",
                )


def _check_import(doc: dict[str, Any]) -> None:
    """Rules across fields (schema types were checked already)."""
    if not doc.get("_connectionId"):
        raise ValidationFailed.one(
            "missing_required_field", "An import needs _connectionId.", "_connectionId"
        )
    _check_composite(doc)
    _check_mapping(doc)
    check_hooks(doc.get("hooks"))


IMPORTS = register(
    ResourceType(
        "imports",
        Import,
        api_identifier_prefix="i",
        check=_check_import,
        normalize=normalize_import,
        extras=("distributed",),
    )
)
