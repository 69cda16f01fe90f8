"""Routes that are not one resource type's CRUD: tokenInfo, the state API and the audit log."""

from datetime import datetime
from enum import Enum
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import Response

from integrator.api.auth import app_context, current_principal
from integrator.api.resource_routes import json_response
from integrator.api.schemas import ERRORS, AuditRecord, StateKeys, TokenInfo
from integrator.errors import BadRequest, NotFound
from integrator.ids import is_object_id
from integrator.resources.base import REGISTRY, check_json_storable
from integrator.resources.service import ResourceService, iso, resource_type, singular
from integrator.store import repository as repo
from integrator.store.accounts import Principal
from integrator.store.models import AuditEvent, utcnow

router = APIRouter()

STATE_KEY_MAX = 500


@router.get(
    "/tokenInfo",
    tags=["auth"],
    summary="Who this token belongs to",
    response_model=TokenInfo,
    responses=ERRORS,
)
def token_info(principal: Principal = Depends(current_principal)) -> Response:
    """``scope`` is ``*`` for an account's tokens, ``invoke`` or ``connector`` for hooks'
    one-time tokens."""
    return json_response({"_userId": principal.user_id, "scope": principal.scope or "*"})


# --- state API --------------------------------------------------------------------------------


def _scope(request: Request, principal: Principal, type_: str, id_: str) -> tuple[str, str]:
    """Check the resource exists in the caller's account; return the state scope for it."""
    rtype = resource_type(type_)
    context = app_context(request)
    with context.sessions() as session:
        ResourceService(session, context.cipher, principal).load(rtype, id_)
    return rtype.name, id_


def _check_key(key: str) -> None:
    if not key or len(key) > STATE_KEY_MAX or "\x00" in key:
        raise BadRequest(
            "invalid_key", f"State keys are 1-{STATE_KEY_MAX} characters, without NUL.", "key"
        )


def _state_keys(request: Request, principal: Principal, scope: tuple[str, str]) -> Response:
    with app_context(request).sessions() as session:
        keys = repo.state_keys(session, principal.account_id, *scope)
    return json_response({"keys": keys})


def _state_get(
    request: Request, principal: Principal, scope: tuple[str, str], key: str
) -> Response:
    _check_key(key)
    with app_context(request).sessions() as session:
        entry = repo.get_state(session, principal.account_id, *scope, key)
    if entry is None:
        raise NotFound(f"No state value for key '{key}'.")
    return json_response(entry.value)


def _state_put(
    request: Request, principal: Principal, scope: tuple[str, str], key: str, value: Any
) -> Response:
    _check_key(key)
    check_json_storable(value)
    with app_context(request).transaction() as session:
        created = repo.put_state(session, principal.account_id, *scope, key, value, utcnow())
    return json_response(value, 201 if created else 200)


def _state_delete(
    request: Request, principal: Principal, scope: tuple[str, str], key: str | None
) -> Response:
    if key is not None:
        _check_key(key)
    with app_context(request).transaction() as session:
        deleted = repo.delete_state(session, principal.account_id, *scope, key)
    if key is not None and not deleted:
        raise NotFound(f"No state value for key '{key}'.")
    return Response(status_code=204)


_ANY_JSON = Body(description="Any JSON value")
_STATE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"description": "The value"}, **ERRORS}
_GLOBAL = ("", "")


@router.get(
    "/state",
    tags=["state"],
    summary="Global state keys",
    response_model=StateKeys,
    responses=ERRORS,
)
def state_keys(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    return _state_keys(request, principal, _GLOBAL)


@router.delete(
    "/state",
    tags=["state"],
    summary="Delete every global key",
    status_code=204,
    response_model=None,
    responses=ERRORS,
)
def state_delete_all(
    request: Request, principal: Principal = Depends(current_principal)
) -> Response:
    return _state_delete(request, principal, _GLOBAL, None)


@router.get(
    "/state/{key}",
    tags=["state"],
    summary="Get a global value",
    response_model=None,
    responses=_STATE_RESPONSES,
)
def state_get(
    request: Request, key: str, principal: Principal = Depends(current_principal)
) -> Response:
    return _state_get(request, principal, _GLOBAL, key)


@router.put(
    "/state/{key}",
    tags=["state"],
    summary="Create or replace a global value",
    response_model=None,
    responses={201: {"description": "Created"}, **_STATE_RESPONSES},
)
def state_put(
    request: Request,
    key: str,
    value: Any = _ANY_JSON,
    principal: Principal = Depends(current_principal),
) -> Response:
    return _state_put(request, principal, _GLOBAL, key, value)


@router.delete(
    "/state/{key}",
    tags=["state"],
    summary="Delete a global value",
    status_code=204,
    response_model=None,
    responses=ERRORS,
)
def state_delete(
    request: Request, key: str, principal: Principal = Depends(current_principal)
) -> Response:
    return _state_delete(request, principal, _GLOBAL, key)


def add_resource_state_routes(router: APIRouter, type_name: str) -> None:
    """``/{type}/{id}/state[/{key}]`` for one resource type (keys invisible to ``/state``)."""
    base = f"/{type_name}/{{id}}/state"
    tag: list[str | Enum] = ["state"]

    @router.get(
        base,
        tags=tag,
        summary=f"State keys of a {singular(type_name)}",
        response_model=StateKeys,
        responses=ERRORS,
    )
    def keys(
        request: Request, id: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        return _state_keys(request, principal, _scope(request, principal, type_name, id))

    @router.delete(
        base,
        tags=tag,
        summary=f"Delete every state key of a {singular(type_name)}",
        status_code=204,
        response_model=None,
        responses=ERRORS,
    )
    def delete_all(
        request: Request, id: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        scope = _scope(request, principal, type_name, id)
        return _state_delete(request, principal, scope, None)

    @router.get(
        base + "/{key}",
        tags=tag,
        summary=f"Get a {singular(type_name)} state value",
        response_model=None,
        responses=_STATE_RESPONSES,
    )
    def get(
        request: Request, id: str, key: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        return _state_get(request, principal, _scope(request, principal, type_name, id), key)

    @router.put(
        base + "/{key}",
        tags=tag,
        summary=f"Set a {singular(type_name)} state value",
        response_model=None,
        responses={201: {"description": "Created"}, **_STATE_RESPONSES},
    )
    def put(
        request: Request,
        id: str,
        key: str,
        value: Any = _ANY_JSON,
        principal: Principal = Depends(current_principal),
    ) -> Response:
        scope = _scope(request, principal, type_name, id)
        return _state_put(request, principal, scope, key, value)

    @router.delete(
        base + "/{key}",
        tags=tag,
        summary=f"Delete a {singular(type_name)} state value",
        status_code=204,
        response_model=None,
        responses=ERRORS,
    )
    def delete(
        request: Request, id: str, key: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        return _state_delete(request, principal, _scope(request, principal, type_name, id), key)


# --- audit ------------------------------------------------------------------------------------


def audit_view(event: AuditEvent) -> dict[str, Any]:
    return {
        "_id": event.id,
        "resourceType": singular(event.resource_type),
        "_resourceId": event.resource_id,
        "action": event.action,
        "source": event.source,
        "time": iso(event.time),
        "byUser": {"_id": event.by_user_id},
        "fieldChanges": event.changes or [],
    }


def _type_filter(value: str | None) -> str | None:
    """Accept ``flow`` or ``flows``; an unknown type is a 400."""
    if value is None:
        return None
    for name in REGISTRY:
        if value in (name, singular(name)):
            return name
    raise BadRequest("invalid_query_params", f"Unknown resource type '{value}'.", "resourceType")


_AUDIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": list[AuditRecord], "description": "Audit records, newest first"},
    204: {"description": "No records"},
    **ERRORS,
}


@router.get(
    "/audit",
    tags=["audit"],
    summary="The account's audit log",
    response_model=None,
    responses=_AUDIT_RESPONSES,
)
def audit(
    request: Request,
    resourceType: str | None = None,
    _resourceId: str | None = Query(None, alias="_resourceId"),
    _byUserId: str | None = Query(None, alias="_byUserId"),
    source: str | None = None,
    action: str | None = None,
    from_: datetime | None = Query(None, alias="from"),
    to: datetime | None = None,
    skip: int = Query(0, ge=0, le=10_000_000),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(current_principal),
) -> Response:
    for name, value in (
        ("_resourceId", _resourceId),
        ("_byUserId", _byUserId),
        ("source", source),
        ("action", action),
    ):
        if value is not None and "\x00" in value:
            raise BadRequest("invalid_query_params", "Values cannot contain NUL.", name)
    with app_context(request).sessions() as session:
        events = repo.list_audit(
            session,
            principal.account_id,
            resource_type=_type_filter(resourceType),
            resource_id=_resourceId,
            by_user_id=_byUserId,
            source=source,
            action=action,
            time_from=from_,
            time_to=to,
            skip=skip,
            limit=limit,
        )
        records = [audit_view(event) for event in events]
    return json_response(records) if records else Response(status_code=204)


def add_resource_audit_route(router: APIRouter, type_name: str) -> None:
    @router.get(
        f"/{type_name}/{{id}}/audit",
        tags=["audit"],
        summary=f"Audit log of a {singular(type_name)}",
        response_model=None,
        responses=_AUDIT_RESPONSES,
    )
    def resource_audit(
        request: Request,
        id: str,
        skip: int = Query(0, ge=0, le=10_000_000),
        limit: int = Query(100, ge=1, le=1000),
        principal: Principal = Depends(current_principal),
    ) -> Response:
        context = app_context(request)
        rtype = resource_type(type_name)
        if not is_object_id(id):
            raise NotFound(f"No {singular(type_name)} with _id '{id}'.")
        with context.sessions() as session:
            # A deleted resource's trail stays readable; with no trail, say whether it exists.
            events = repo.list_audit(
                session,
                principal.account_id,
                resource_id=id,
                resource_type=rtype.name,
                skip=skip,
                limit=limit,
            )
            if not events:
                ResourceService(session, context.cipher, principal).load(rtype, id)
            records = [audit_view(event) for event in events]
        return json_response(records) if records else Response(status_code=204)


def add_fallback_routes(router: APIRouter) -> None:
    """Unknown resource types answer 400 (after auth, so nothing leaks to anonymous callers).

    ``POST /{apiIdentifier}`` is the invoke route (``invoke_routes``), registered before this.
    """
    methods = ["GET", "PUT", "PATCH", "DELETE"]

    @router.api_route("/{resource_type}", methods=methods, include_in_schema=False)
    @router.api_route(
        "/{resource_type}/{rest:path}", methods=[*methods, "POST"], include_in_schema=False
    )
    def unknown_type(
        resource_type: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        if resource_type in REGISTRY or resource_type == "state":
            raise NotFound("No such route.")
        raise BadRequest(
            "invalid_resource_type", f"Unknown resource type '{resource_type}'.", "resourceType"
        )
