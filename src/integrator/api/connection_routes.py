"""Actions on a connection that run part of an adaptor's pipeline without saving anything.

``POST /v1/connections/{id}/import/map`` (seed 004) evaluates only the mapping step of a
virtual import and returns the post-mapped records. The virtual export and import endpoints
that call the target application belong to the HTTP adaptor.
"""

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from integrator.api.auth import app_context, current_principal
from integrator.api.resource_routes import json_response
from integrator.api.schemas import ERRORS
from integrator.errors import ErrorItem, ValidationFailed
from integrator.mapping import map_records
from integrator.resources import REGISTRY
from integrator.resources.base import check_json_storable, validate_document
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal

router = APIRouter()

MAX_RECORDS = 1000


class VirtualImport(BaseModel):
    """``{"import": {...an import document...}, "data": [records]}``."""

    model_config = ConfigDict(populate_by_name=True)

    import_: dict[str, Any] = Field(alias="import")
    data: list[dict[str, Any]]


class MappedRecord(BaseModel):
    """One input record's outcome, in input order (the shape of a virtual import's results)."""

    model_config = ConfigDict(populate_by_name=True)

    statusCode: int
    json_: dict[str, Any] | None = Field(default=None, alias="_json")
    errors: list[dict[str, Any]] | None = None


def _validated_import(connection_id: str, document: dict[str, Any]) -> dict[str, Any]:
    """The import as saving it would store it; the connection comes from the URL."""
    body = {**document, "_connectionId": connection_id}
    try:
        return validate_document(REGISTRY["imports"], body)
    except ValidationFailed as failed:
        raise ValidationFailed(
            [
                ErrorItem(i.code, i.message, f"import.{i.field}" if i.field else "import")
                for i in failed.items
            ]
        ) from None


@router.post(
    "/connections/{id}/import/map",
    tags=["connections"],
    summary="Run only the mapping step of a virtual import",
    response_model=None,
    responses={
        200: {"model": list[MappedRecord], "description": "One result per record, in order"},
        **ERRORS,
    },
)
async def map_virtual_import(
    request: Request,
    id: str,
    body: VirtualImport = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    if len(body.data) > MAX_RECORDS:
        raise ValidationFailed.one(
            "invalid_field", f"At most {MAX_RECORDS} records per call.", "data"
        )
    check_json_storable({"data": body.data})
    context = app_context(request)
    await context.read(
        lambda db: ResourceService(db, context.cipher, principal).find(REGISTRY["connections"], id)
    )
    import_doc = _validated_import(id, body.import_)
    results = await run_in_threadpool(map_records, import_doc, body.data)
    out: list[dict[str, Any]] = []
    for result in results:
        if result.errors:
            out.append({"statusCode": 422, "errors": list(result.errors)})
        else:
            out.append({"statusCode": 200, "_json": result.record})
    return json_response(out)
