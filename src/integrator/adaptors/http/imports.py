"""Send records to an HTTP/REST API: the import side of the HTTP adaptor (reference §4.2-4.4).

``import_records(import_doc, connection, records)`` maps each record (Mapper 1.0, lookups through
``RestLookupProvider``), picks the request, sends it through the ``ConnectionClient`` (auth,
retries, 429s, concurrency) and answers one result per record, in input order::

    {"statusCode": 200, "id": "17", "_json": {...response...}, "errors": [], "ignored": False}

Decisions (integrator.io leaves them implicit):

* **Every result has all five keys.** ``errors`` is ``[]`` and ``ignored`` ``False`` when there
  is nothing to say, so callers never test for presence. Success is ``statusCode`` 200 whatever
  2xx the API used (as integrator.io reports it); ``_json`` keeps the API's answer.
* **Failures.** A non-2xx answer gives ``statusCode`` = the HTTP status and one error per entry
  of the body's ``errors[]`` (else its ``message``/``error``, else a snippet), with ``code`` the
  status as text and ``source`` ``"application"``. Mapping and lookup errors give 422 with the
  mapper's errors (``source`` ``"mapping"``/``"lookup"``) and send nothing. A 2xx answer that
  fails ``successPath``/``successValues`` gives 422, code ``"success_path"``. A request that
  fails for good (``RequestFailed``) gives its status (502 for network errors), source
  ``"connection"`` for network errors. ``AuthFailed`` is raised: the connection is offline.
* **Composite (add or update).** With two ``relativeURI``/``method`` entries the first is the
  update, the second the create (modern ``requestType`` may say otherwise). The record exists
  when ``existingExtract`` (modern) names a non-empty record field, or the existence lookup
  finds a match: ``existingLookupName``, ``resourceId.lookupName``, else the first lookup named
  in the update URI (``customers/{idLookup}``). The existence check ignores the lookup's
  ``default``/``allowFailures``: no match means "create".
* **ignoreExisting / ignoreMissing.** Existence comes from ``ignoreExtract`` /
  ``ignoreLookupName`` when set, else as above. Skipped records are ``statusCode`` 200,
  ``ignored: True``, ``id`` the existing id when known; they count in ``numIgnore``
  (``count_results``).
* **Body.** The mapped record (the source record when ``sendPostMappedData`` is false) as JSON,
  or form-encoded for ``urlencoded`` (nested values as JSON text). A ``body`` template (modern;
  a list pairs with composite entries) is rendered in "body" mode against the mapped record;
  for batches against ``batch_of_records: [{record}...]``.
* **Batches.** Only when ``batchSize`` > 1: records for the same entry go as one JSON array; the
  answer's array (at ``response.resourcePath``, or the body itself) is split back by position,
  each item judged by its own ``statusCode``/``errors``. A mismatched answer fails the batch.
* **Templates** in URIs, headers and lookups: see ``lookups.py`` (``{{`` = handlebars, else
  legacy ``{name}``). URIs and headers render against the source (pre-mapped) record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from integrator.adaptors.http.client import (
    MEDIA_TYPES,
    ConnectionClient,
    RequestFailed,
)
from integrator.adaptors.http.export import parse_body
from integrator.adaptors.http.import_plan import Entry, ImportPlan
from integrator.adaptors.http.lookups import (
    LookupRequestFailed,
    RestLookupProvider,
    render_placeholders,
)
from integrator.adaptors.http.records import body_snippet, read_path, value_text
from integrator.adaptors.http.results import (
    api_errors,
    count_results,
    read_id,
    record_error,
    record_result,
)
from integrator.mapping import Mapper, compile_import
from integrator.mapping.datatypes import MISSING, FieldError, is_empty
from integrator.mapping.templates import TemplateError

__all__ = ["count_results", "import_records"]


@dataclass(slots=True)
class Prepared:
    """A record ready to send: its entry, URI, headers and payload."""

    position: int
    entry_index: int
    uri: str
    headers: dict[str, str]
    payload: dict[str, Any]
    existing_id: Any = None


class _Importer:
    def __init__(self, plan: ImportPlan, mapper: Mapper, client: ConnectionClient) -> None:
        self.plan = plan
        self.mapper = mapper
        self.client = client

    # -- existence --------------------------------------------------------------------------------

    def _existence(
        self, record: dict[str, Any], provider: RestLookupProvider, extract: Any, lookup: Any
    ) -> tuple[bool | None, Any]:
        """``(exists, existing id)``; ``None`` when nothing in the import says."""
        if isinstance(extract, str) and extract:
            value = read_path(record, extract)
            return (not is_empty(value), None if value is MISSING else value)
        if isinstance(lookup, str) and lookup in self.plan.lookups:
            value = provider.fetch(lookup, record)
            return (value is not MISSING, None if value is MISSING else value)
        return None, None

    def _ignore_reason(
        self,
        record: dict[str, Any],
        provider: RestLookupProvider,
        composite: tuple[bool | None, Any],
    ) -> tuple[bool, Any]:
        plan = self.plan
        if not (plan.ignore_existing or plan.ignore_missing):
            return False, None
        extract, lookup = plan.block.get("ignoreExtract"), plan.block.get("ignoreLookupName")
        exists, found = (
            self._existence(record, provider, extract, lookup) if extract or lookup else composite
        )
        if exists is True and plan.ignore_existing:
            return True, found
        return exists is False and plan.ignore_missing, None

    # -- one record -------------------------------------------------------------------------------

    def prepare(self, position: int, record: dict[str, Any]) -> Prepared | dict[str, Any]:
        """Decide, map and render one record; a result dict when it ends here."""
        plan = self.plan
        provider = RestLookupProvider(self.client, plan.lookups)
        if not isinstance(record, dict):
            return record_result(
                422, errors=[record_error("invalid_record", "Not a JSON object.", "mapping")]
            )
        try:
            composite: tuple[bool | None, Any] = (None, None)
            if plan.update_index is not None:
                composite = self._existence(
                    record, provider, plan.existing_extract, plan.existing_lookup
                )
            ignored, found = self._ignore_reason(record, provider, composite)
            if ignored:
                return record_result(200, record_id=found, ignored=True)
            if plan.update_index is not None and plan.create_index is not None:
                index = plan.update_index if composite[0] else plan.create_index
            else:
                index = 0
            entry = plan.entries[index]
            mapped = self.mapper.map(record, provider=provider, operation=entry.request_type)
            if provider.auth_failure is not None:
                raise provider.auth_failure
            if mapped.record is None:
                return record_result(422, errors=list(mapped.errors))

            def resolve(name: str) -> Any:
                return provider.resolve(name, record)

            uri = render_placeholders(
                entry.uri, record, "uri", lookup_names=plan.dynamic, resolve_lookup=resolve
            )
            headers = {
                name: render_placeholders(
                    value, record, "plain", lookup_names=plan.dynamic, resolve_lookup=resolve
                )
                for name, value in plan.headers
            }
        except (FieldError, LookupRequestFailed, RequestFailed) as exc:
            return record_result(422, errors=[record_error(_code(exc), _message(exc), "lookup")])
        except TemplateError as exc:
            return record_result(422, errors=[record_error("template_error", str(exc), "mapping")])
        payload = mapped.record if plan.send_mapped else record
        existing_id = composite[1] if composite[0] else None
        return Prepared(position, index, uri, headers, payload, existing_id)

    def send(self, prepared: Prepared) -> dict[str, Any]:
        entry = self.plan.entries[prepared.entry_index]
        try:
            content, content_type = self._body(
                entry, {"record": prepared.payload}, prepared.payload
            )
        except TemplateError as exc:
            return record_result(422, errors=[record_error("template_error", str(exc), "mapping")])
        response = self._request(entry, prepared.uri, prepared.headers, content, content_type)
        if isinstance(response, dict):
            return response
        status, body = response
        return self._judge(entry, status, body, prepared.existing_id)

    # -- batches ----------------------------------------------------------------------------------

    def send_batch(self, batch: list[Prepared]) -> list[dict[str, Any]]:
        entry = self.plan.entries[batch[0].entry_index]
        payloads = [p.payload for p in batch]
        context = {"batch_of_records": [{"record": p, "data": p} for p in payloads]}
        try:
            content, content_type = self._body(entry, context, payloads)
        except TemplateError as exc:
            error = record_error("template_error", str(exc), "mapping")
            return [record_result(422, errors=[dict(error)]) for _ in batch]
        response = self._request(entry, batch[0].uri, batch[0].headers, content, content_type)
        if isinstance(response, dict):
            return [dict(response) for _ in batch]
        status, body = response
        if not 200 <= status < 300:
            return [self._judge(entry, status, body, None) for _ in batch]
        items = read_path(body, entry.resource_path) if entry.resource_path else body
        if not isinstance(items, list) or len(items) != len(batch):
            message = (
                f"Sent {len(batch)} records but the answer holds no array of {len(batch)} "
                f"results: {body_snippet(body, 200)}"
            )
            error = record_error("batch_mismatch", message, "application")
            return [record_result(422, body=body, errors=[dict(error)]) for _ in batch]
        results = []
        for prepared, item in zip(batch, items, strict=True):
            item_status = item.get("statusCode") if isinstance(item, dict) else None
            results.append(
                self._judge(entry, int(item_status or status), item, prepared.existing_id)
            )
        return results

    # -- requests and answers ---------------------------------------------------------------------

    def _body(
        self, entry: Entry, context: dict[str, Any], payload: Any
    ) -> tuple[bytes | None, str]:
        if isinstance(entry.body, str) and entry.body:
            record = context.get("record") if isinstance(context.get("record"), dict) else {}
            extra = {k: v for k, v in context.items() if k != "record"}
            text = render_placeholders(entry.body, record or {}, "body", extra=extra)
            return text.encode(), MEDIA_TYPES.get(self.plan.media, "application/json")
        if entry.method in ("GET", "DELETE"):
            return None, ""
        if self.plan.media == "urlencoded" and isinstance(payload, dict):
            form = {
                key: value if isinstance(value, str) else orjson.dumps(value).decode()
                for key, value in payload.items()
            }
            return urlencode(form).encode(), MEDIA_TYPES["urlencoded"]
        return orjson.dumps(payload), MEDIA_TYPES["json"]

    def _request(
        self,
        entry: Entry,
        uri: str,
        headers: dict[str, str],
        content: bytes | None,
        content_type: str,
    ) -> tuple[int, Any] | dict[str, Any]:
        if content is not None and content_type:
            headers = {"Content-Type": content_type, **headers}
        try:
            response = self.client.request(
                entry.method, uri, headers=headers or None, content=content
            )
        except RequestFailed as exc:
            status = exc.status or 502
            source = "application" if exc.status else "connection"
            code = str(exc.status) if exc.status else "request_failed"
            return record_result(status, errors=[record_error(code, exc.message, source)])
        body = parse_body(response.content, response.headers.get("content-type", ""))
        return response.status_code, body

    def _judge(self, entry: Entry, status: int, body: Any, existing_id: Any) -> dict[str, Any]:
        if not 200 <= status < 300:
            return record_result(status, body=body, errors=api_errors(status, body))
        if entry.success_path:
            value = read_path(body, entry.success_path)
            if entry.success_values:
                ok = value_text(value) in entry.success_values
            else:
                ok = value is not MISSING and value_text(value) not in ("", "null", "false", "0")
            if not ok:
                message = (
                    f"successPath '{entry.success_path}' is {value_text(value)!r}, not a success "
                    f"value. Response: {body_snippet(body, 200)}"
                )
                return record_result(
                    422, body=body, errors=[record_error("success_path", message, "application")]
                )
        record_id = read_id(body, entry.id_path)
        if record_id is MISSING or record_id is None:
            record_id = existing_id
        return record_result(200, record_id=record_id, body=body)


def _code(exc: Exception) -> str:
    if isinstance(exc, FieldError):
        return exc.code
    return "lookup_error"


def _message(exc: Exception) -> str:
    if isinstance(exc, FieldError | RequestFailed):
        return exc.message
    return str(exc)


#: ``(preMapData, postMapData) -> [(data or None, errors, ignored)]``: the flow's postMap hook.
PostMap = Callable[
    [list[dict[str, Any]], list[dict[str, Any]]],
    list[tuple[dict[str, Any] | None, list[dict[str, Any]], bool]],
]


def import_records(
    import_doc: dict[str, Any],
    connection: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    client: ConnectionClient | None = None,
    post_map: PostMap | None = None,
) -> list[dict[str, Any]]:
    """Import ``records`` through an HTTP/REST import; one result per record, in input order.

    ``connection`` is the unsealed connection document; pass ``client`` to share one. With
    ``post_map``, every record is mapped first and the page's mapped records go through it
    (integrator.io's postMap hook) before anything is sent. Raises ``AuthFailed`` when the API
    refuses the credentials (the caller sets the connection offline) and ``ValidationFailed``
    for a mapping that cannot compile; every other failure is reported on its record only.
    See the module docstring for the result shape.
    """
    plan = ImportPlan(import_doc, connection)
    mapper = compile_import(import_doc)
    own = client is None
    max_attempts = import_doc.get("maxAttempts")
    attempts = max_attempts if isinstance(max_attempts, int) and max_attempts > 0 else 5
    active = client or ConnectionClient(connection, max_attempts=attempts)
    try:
        importer = _Importer(plan, mapper, active)
        results: list[dict[str, Any] | None] = [None] * len(records)
        pending: dict[int, list[Prepared]] = {}
        prepared_all = [
            importer.prepare(position, record) for position, record in enumerate(records)
        ]
        if post_map is not None:
            prepared_all = _apply_post_map(post_map, records, prepared_all)
        for position, prepared in enumerate(prepared_all):
            if isinstance(prepared, dict):
                results[position] = prepared
            elif plan.batch_size > 1:
                group = pending.setdefault(prepared.entry_index, [])
                group.append(prepared)
                if len(group) >= plan.batch_size:
                    _store(results, group, importer.send_batch(group))
                    pending[prepared.entry_index] = []
            else:
                results[position] = importer.send(prepared)
        for group in pending.values():
            if group:
                _store(results, group, importer.send_batch(group))
        return [result if result is not None else record_result(500) for result in results]
    finally:
        if own:
            active.close()


def _apply_post_map(
    post_map: PostMap,
    records: list[dict[str, Any]],
    prepared_all: list[Prepared | dict[str, Any]],
) -> list[Prepared | dict[str, Any]]:
    """Hand the mapped records to the postMap hook and apply its answer to each."""
    mapped = [p for p in prepared_all if isinstance(p, Prepared)]
    if not mapped:
        return prepared_all
    answers = post_map([records[p.position] for p in mapped], [p.payload for p in mapped])
    for prepared, (data, errors, ignored) in zip(mapped, answers, strict=True):
        if ignored:
            prepared_all[prepared.position] = record_result(200, ignored=True)
        elif data is None:
            prepared_all[prepared.position] = record_result(422, errors=errors)
        else:
            prepared.payload = data
    return prepared_all


def _store(
    results: list[dict[str, Any] | None], batch: list[Prepared], answers: list[dict[str, Any]]
) -> None:
    for prepared, answer in zip(batch, answers, strict=True):
        results[prepared.position] = answer
