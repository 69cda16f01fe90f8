"""Running exports and imports on request, outside flows (integrator.io's "standalone" and
"virtual" calls): ``POST /v1/{apiIdentifier}`` (or ``/v1/{exports|imports}/{id}/invoke``),
``POST /v1/exports/preview``, ``POST /v1/connections/{id}/export``,
``POST /v1/connections/{id}/export/pages`` (one page per call, with a signed
``pagedExportState``) and ``POST /v1/connections/{id}/import``.

The records come back in the response; nothing is saved. Custom request headers:
``Integrator-Relative-URI`` replaces the export's relative URI for that one call;
``Integrator-Passthrough: true`` on an export returns the target's own answer to the first
request (status, content type, body) instead of records.
"""

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from integrator.adaptors.http.auth import AuthFailed, TokenSet
from integrator.adaptors.http.debuglog import DebugLog
from integrator.adaptors.http.export import passthrough
from integrator.adaptors.registry import (
    AdaptorUnavailable,
    export_records,
    import_records,
    iter_export_pages,
)
from integrator.api.auth import app_context, current_principal
from integrator.api.context import AppContext
from integrator.api.resource_routes import json_response
from integrator.api.schemas import ERRORS
from integrator.engine.debugging import debug_log_for, save_debug_log
from integrator.engine.hooks import Extensions, HookContext, HookError
from integrator.engine.paged_exports import export_digest
from integrator.errors import ValidationFailed
from integrator.resources import REGISTRY
from integrator.resources.base import check_json_storable, validate_document
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal

router = APIRouter()

#: Records an invoked export returns at most (more means: run it in a flow).
INVOKE_MAX_RECORDS = 10_000
#: Records a preview returns at most, as integrator.io's preview.
PREVIEW_MAX_RECORDS = 100
RELATIVE_URI_HEADER = "integrator-relative-uri"
PASSTHROUGH_HEADER = "integrator-passthrough"


class ExportResult(BaseModel):
    """The records of an export run on request; ``truncated`` when it had more."""

    data: list[dict[str, Any]]
    truncated: bool | None = None


class VirtualExport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    export: dict[str, Any] = Field()


def _with_relative_uri(export: dict[str, Any], request: Request) -> dict[str, Any]:
    """Apply ``Integrator-Relative-URI`` to the block (``http`` or ``rest``) the export uses."""
    override = request.headers.get(RELATIVE_URI_HEADER)
    if override is None:
        return export
    block = "rest" if isinstance(export.get("rest"), dict) else "http"
    return {**export, block: {**(export.get(block) or {}), "relativeURI": override}}


class Run:
    """Who runs what on which connection: where a debug log of the run is saved."""

    def __init__(
        self,
        context: AppContext,
        principal: Principal,
        connection_id: str,
        resource_id: str | None = None,
    ) -> None:
        self.context = context
        self.principal = principal
        self.connection_id = connection_id
        self.resource_id = resource_id

    async def save(self, log: DebugLog | None) -> None:
        if log is None:
            return

        def save() -> None:
            with self.context.transaction() as session:
                save_debug_log(
                    session, self.principal.account_id, self.connection_id, self.resource_id, log
                )

        await run_in_threadpool(save)

    def extensions(self) -> Extensions:
        """The hook runner bound to the caller: wrapper connections' functions run with it."""
        principal = self.principal
        caller = HookContext(account_id=principal.account_id, connector_id=principal.connector_id)
        return Extensions(self.context.hooks, caller)

    def token_listener(self) -> Callable[[TokenSet], None]:
        """Store each OAuth token the client obtains on the connection (called in the worker
        thread that got it, before the token is used)."""

        def store(tokens: TokenSet) -> None:
            with self.context.transaction() as session:
                ResourceService(session, self.context.cipher, self.principal).store_tokens(
                    self.connection_id, tokens.access_token, tokens.refresh_token
                )

        return store

    async def refused(self, exc: AuthFailed) -> ValidationFailed:
        """The connection's credentials were refused: set it offline and say so."""

        def set_offline() -> None:
            with self.context.transaction() as session:
                ResourceService(session, self.context.cipher, self.principal).set_offline(
                    REGISTRY["connections"], self.connection_id, True
                )

        await run_in_threadpool(set_offline)
        return ValidationFailed.one(
            "auth_failed",
            f"The connection's credentials were refused ({exc}); it is now offline.",
        )


async def _run_export(
    run: Run, export: dict[str, Any], connection: dict[str, Any], limit: int
) -> dict[str, Any]:
    debug = debug_log_for(connection, export)
    try:
        records, more = await run_in_threadpool(
            partial(export_records, extensions=run.extensions()),
            export, connection, limit, debug, run.token_listener(),
        )  # fmt: skip
    except AdaptorUnavailable as exc:
        raise ValidationFailed.one("adaptor_unavailable", str(exc)) from None
    except HookError as exc:
        raise ValidationFailed.one(exc.code, str(exc)) from None
    except AuthFailed as exc:
        raise await run.refused(exc) from None
    finally:
        await run.save(debug)
    result: dict[str, Any] = {"data": records}
    if more:
        result["truncated"] = True
    return result


#: Records one import call takes at most.
IMPORT_MAX_RECORDS = 1000


class ImportResult(BaseModel):
    """One record's outcome, in input order."""

    model_config = ConfigDict(populate_by_name=True)

    statusCode: int
    id: str | None = None
    json_: Any = Field(default=None, alias="_json")
    errors: list[dict[str, Any]] = Field(default_factory=list)
    ignored: bool = False


class VirtualImportRun(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    import_: dict[str, Any] = Field(alias="import")
    data: list[dict[str, Any]]


def _records(value: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValidationFailed.one("invalid_field", "Send a JSON array of records.", field)
    if len(value) > IMPORT_MAX_RECORDS:
        raise ValidationFailed.one(
            "invalid_field", f"At most {IMPORT_MAX_RECORDS} records per call.", field
        )
    check_json_storable(value)
    return value


async def _run_import(
    run: Run,
    import_doc: dict[str, Any],
    connection: dict[str, Any],
    records: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    debug = debug_log_for(connection, import_doc)
    try:
        return await run_in_threadpool(
            partial(import_records, extensions=run.extensions()),
            import_doc, connection, records, debug, run.token_listener(),
        )  # fmt: skip
    except AdaptorUnavailable as exc:
        raise ValidationFailed.one("adaptor_unavailable", str(exc)) from None
    except HookError as exc:
        raise ValidationFailed.one(exc.code, str(exc)) from None
    except AuthFailed as exc:
        raise await run.refused(exc) from None
    finally:
        await run.save(debug)


def validated_virtual(kind: str, document: dict[str, Any], connection_id: str) -> dict[str, Any]:
    """An unsaved export or import document as saving it would store it, on the connection of
    the URL; errors name ``export.<field>`` / ``import.<field>``."""
    try:
        return validate_document(REGISTRY[f"{kind}s"], {**document, "_connectionId": connection_id})
    except ValidationFailed as failed:
        for item in failed.items:
            item.field = f"{kind}.{item.field}" if item.field else kind
        raise


def _connection(context: AppContext, principal: Principal, id_: str) -> Callable[[Any], Any]:
    return lambda db: ResourceService(db, context.cipher, principal).unsealed(
        REGISTRY["connections"], id_
    )


def _offline(connection: dict[str, Any]) -> None:
    if connection.get("offline"):
        raise ValidationFailed.one(
            "connection_offline",
            "The connection is offline: fix it and ping it (GET /v1/connections/{id}/ping).",
            "_connectionId",
        )


@router.post(
    "/exports/preview",
    tags=["exports"],
    summary=f"Run an unsaved export in test mode (at most {PREVIEW_MAX_RECORDS} records)",
    response_model=ExportResult,
    responses=ERRORS,
)
async def preview_export(
    request: Request,
    body: dict[str, Any] = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    export = validate_document(REGISTRY["exports"], body)
    connection_id = export.get("_connectionId")
    if not isinstance(connection_id, str):
        raise ValidationFailed.one(
            "missing_required_field", "A preview needs _connectionId.", "_connectionId"
        )
    context = app_context(request)
    connection = await context.read(_connection(context, principal, connection_id))
    limit = min(int((export.get("test") or {}).get("limit") or PREVIEW_MAX_RECORDS), 100)
    export = {**_with_relative_uri(export, request), "type": "test", "test": {"limit": limit}}
    run = Run(context, principal, connection_id)
    return json_response(await _run_export(run, export, connection, limit))


async def _virtual_export(
    request: Request, connection_id: str, document: dict[str, Any], principal: Principal
) -> tuple[Run, dict[str, Any], dict[str, Any]]:
    """The run, the validated export (with ``Integrator-Relative-URI`` applied) and the unsealed
    connection of a virtual export; an offline connection refuses."""
    context = app_context(request)
    connection = await context.read(_connection(context, principal, connection_id))
    export = _with_relative_uri(validated_virtual("export", document, connection_id), request)
    _offline(connection)
    return Run(context, principal, connection_id), export, connection


@router.post(
    "/connections/{id}/export",
    tags=["connections"],
    summary="Run an export given in the body with this connection (a virtual export)",
    response_model=ExportResult,
    responses=ERRORS,
)
async def virtual_export(
    request: Request,
    id: str,
    body: VirtualExport = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    run, export, connection = await _virtual_export(request, id, body.export, principal)
    return json_response(await _run_export(run, export, connection, INVOKE_MAX_RECORDS))


class PagedExportRun(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    export: dict[str, Any]
    pagedExportState: dict[str, Any] | None = None


class PagedExportAnswer(BaseModel):
    data: list[dict[str, Any]]
    pagedExportState: dict[str, Any]


@router.post(
    "/connections/{id}/export/pages",
    tags=["connections"],
    summary="Run a virtual export one page per call; send pagedExportState back for the next",
    response_model=PagedExportAnswer,
    responses=ERRORS,
)
async def virtual_export_pages(
    request: Request,
    id: str,
    body: PagedExportRun = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    run, export, connection = await _virtual_export(request, id, body.export, principal)
    context = run.context
    scope = f"{principal.account_id}|{id}|{export_digest(export)}"

    def start() -> tuple[Iterator[list[dict[str, Any]]], DebugLog | None]:
        # The export's reader (and its debug log) lives across calls.
        debug = debug_log_for(connection, export)
        pages = iter_export_pages(
            export, connection, debug, run.token_listener(), extensions=run.extensions()
        )
        return pages, debug

    def next_page() -> tuple[list[dict[str, Any]], dict[str, Any], DebugLog | None]:
        page, state, debug = context.paged_exports.page(scope, start, body.pagedExportState)
        return page, state, debug

    try:
        data, state, debug = await run_in_threadpool(next_page)
    except AdaptorUnavailable as exc:
        raise ValidationFailed.one("adaptor_unavailable", str(exc)) from None
    except HookError as exc:
        raise ValidationFailed.one(exc.code, str(exc)) from None
    except AuthFailed as exc:
        raise await run.refused(exc) from None
    if debug is not None:
        # What this call's page cost: saved now, emptied for the next call.
        await run.save(debug)
        debug.clear()
    return json_response({"data": data, "pagedExportState": state})


@router.post(
    "/connections/{id}/import",
    tags=["connections"],
    summary="Send records through an import given in the body (a virtual import)",
    response_model=list[ImportResult],
    responses=ERRORS,
)
async def virtual_import(
    request: Request,
    id: str,
    body: VirtualImportRun = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    context = app_context(request)
    connection = await context.read(_connection(context, principal, id))
    records = _records(body.data, "data")
    import_doc = validated_virtual("import", body.import_, id)
    _offline(connection)
    run = Run(context, principal, id)
    return json_response(await _run_import(run, import_doc, connection, records))


async def _passthrough(run: Run, export: dict[str, Any], connection: dict[str, Any]) -> Response:
    """The target's own answer to the export's first request: status, content type, body."""
    if connection.get("type") not in ("http", "rest"):
        raise ValidationFailed.one(
            "adaptor_unavailable", "Integrator-Passthrough works with HTTP/REST connections."
        )
    try:
        status, content_type, content = await run_in_threadpool(passthrough, export, connection)
    except AuthFailed as exc:
        raise await run.refused(exc) from None
    return Response(content, status_code=status, media_type=content_type)


async def _invoke_saved(
    request: Request, principal: Principal, type_: str, document: dict[str, Any], body: Any
) -> Response:
    """Run a saved export (its records) or import (``body``: the records; one result each)."""
    context = app_context(request)
    records = _records(body, "body") if type_ == "imports" else []
    connection_id = document.get("_connectionId")
    if not isinstance(connection_id, str):
        raise ValidationFailed.one(
            "adaptor_unavailable", "This export has no connection to run on."
        )
    connection = await context.read(_connection(context, principal, connection_id))
    _offline(connection)
    run = Run(context, principal, connection_id, str(document["_id"]))
    if type_ == "exports" and request.headers.get(PASSTHROUGH_HEADER, "").lower() == "true":
        return await _passthrough(run, _with_relative_uri(document, request), connection)
    if type_ == "imports":
        return json_response(await _run_import(run, document, connection, records))
    export = _with_relative_uri(document, request)
    return json_response(await _run_export(run, export, connection, INVOKE_MAX_RECORDS))


def _add_invoke_by_id_route(type_: str) -> None:
    what = "records" if type_ == "exports" else "one result per record"

    @router.post(
        f"/{type_}/{{id}}/invoke",
        tags=[type_],
        summary=f"Invoke a saved {type_[:-1]} by its _id (returns {what})",
        response_model=ExportResult if type_ == "exports" else list[ImportResult],
        responses=ERRORS,
    )
    async def invoke_by_id(
        request: Request,
        id: str,
        body: Any = Body(default=None),
        principal: Principal = Depends(current_principal),
    ) -> Response:
        context = app_context(request)
        document = await context.read(
            lambda db: ResourceService(db, context.cipher, principal).unsealed(REGISTRY[type_], id)
        )
        return await _invoke_saved(request, principal, type_, document, body)


_add_invoke_by_id_route("exports")
_add_invoke_by_id_route("imports")


def add_invoke_route(router: APIRouter) -> None:
    """``POST /v1/{apiIdentifier}``: registered last, as it matches any single path segment."""

    @router.post(
        "/{api_identifier}",
        tags=["exports", "imports"],
        summary="Invoke a saved export (returns its records) or import (body: a JSON array of "
        "records; returns one result per record) by its apiIdentifier",
        response_model=ExportResult | list[ImportResult],
        responses=ERRORS,
    )
    async def invoke(
        request: Request,
        api_identifier: str,
        body: Any = Body(default=None),
        principal: Principal = Depends(current_principal),
    ) -> Response:
        context = app_context(request)
        type_, document = await context.read(
            lambda db: ResourceService(db, context.cipher, principal).unsealed_by_api_identifier(
                api_identifier
            )
        )
        return await _invoke_saved(request, principal, type_, document, body)
