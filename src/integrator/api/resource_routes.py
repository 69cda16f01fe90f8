"""CRUD routes for every registered resource type, built from the type's own schema.

No ``from __future__ import annotations`` here: FastAPI reads the body model from each route's
annotations, and the routes are made in a loop, one set per type.
"""

from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import Response

from integrator.api.auth import app_context, current_principal
from integrator.api.schemas import ERRORS, Dependencies, ExtraDocument, PatchOperation, output_model
from integrator.errors import BadRequest, ValidationFailed
from integrator.resources.base import MAX_DEPTH, Document, ResourceType
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal
from integrator.store.repository import FILTERABLE

RESERVED_QUERY = {"skip", "limit", "include", "exclude"}


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


def _project(doc: dict[str, Any], include: list[str], exclude: list[str]) -> dict[str, Any]:
    """integrator.io's ``include=``/``exclude=`` projection (top-level or dotted paths)."""
    if include:
        out: dict[str, Any] = {"_id": doc["_id"]}
        for path in include:
            parts = path.split(".")
            node: Any = doc
            for part in parts:
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                continue
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = node
        return out
    for path in exclude:
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path != "_id":
            node.pop(last, None)
    return doc


def _list_query(request: Request) -> tuple[dict[str, str], list[str], list[str]]:
    params = request.query_params
    include = [p for p in params.get("include", "").split(",") if p]
    exclude = [p for p in params.get("exclude", "").split(",") if p]
    if include and exclude:
        raise BadRequest("invalid_query_params", "Use include or exclude, not both.", "include")
    filters: dict[str, str] = {}
    for key, value in params.multi_items():
        if key in RESERVED_QUERY:
            continue
        if not FILTERABLE.match(key):
            raise BadRequest("invalid_query_params", f"Cannot filter on '{key}'.", key)
        if "\x00" in value:
            raise BadRequest("invalid_query_params", "Values cannot contain NUL.", key)
        filters[key] = value
    return filters, include, exclude


def _sent(payload: Document) -> dict[str, Any]:
    """The fields the client sent, as JSON (defaults are not invented)."""
    try:
        return payload.model_dump(by_alias=True, exclude_unset=True, mode="json")
    except ValueError:  # pydantic: "Maximum serialization depth exceeded"
        raise ValidationFailed.one(
            "invalid_field", f"Documents may nest at most {MAX_DEPTH} levels."
        ) from None


def _next_link(request: Request, skip: int, limit: int) -> str:
    query = dict(request.query_params)
    query.update(skip=str(skip + limit), limit=str(limit))
    return f'<{request.url.replace(query=urlencode(query))}>; rel="next"'


Item = TypeVar("Item")


def page_of(
    request: Request, items: list[Item], skip: int, limit: int
) -> tuple[list[Item], dict[str, str]]:
    """A list page from ``limit + 1`` fetched items: the first ``limit``, and a ``Link``
    header (``rel="next"``) when there were more."""
    if len(items) <= limit:
        return items, {}
    return items[:limit], {"Link": _next_link(request, skip, limit)}


def add_resource_read_routes(router: APIRouter, rtype: ResourceType) -> None:
    """Register list and get for ``rtype``.

    Registered for every type before any other route: routes are matched in order, and these
    two carry most of the traffic.
    """
    name = rtype.name
    read_model = output_model(rtype)
    tag: list[str | Enum] = [name]
    one = f"/{name}/{{id}}"

    @router.get(
        f"/{name}",
        tags=tag,
        summary=f"List {name}",
        response_model=None,
        responses={
            200: {"model": list[read_model], "description": "A page of resources"},  # type: ignore[valid-type]
            204: {"description": "No resources"},
            **ERRORS,
        },
    )
    async def list_resources(
        request: Request,
        skip: int = Query(0, ge=0, le=10_000_000),
        limit: int = Query(100, ge=1, le=1000),
        principal: Principal = Depends(current_principal),
    ) -> Response:
        filters, include, exclude = _list_query(request)
        context = app_context(request)
        docs = await context.read(
            lambda db: ResourceService(db, context.cipher, principal).list_json(
                rtype, filters, skip, limit + 1
            )
        )
        if not docs:
            return Response(status_code=204)
        docs, headers = page_of(request, docs, skip, limit)
        if include or exclude:
            projected = [_project(orjson.loads(doc), include, exclude) for doc in docs]
            return json_response(projected, headers=headers)
        body = b"[" + b",".join(docs) + b"]"
        return Response(body, 200, headers, media_type="application/json")

    @router.get(
        one,
        tags=tag,
        summary=f"Get a {name[:-1]}",
        response_model=None,
        responses={200: {"model": read_model, "description": "The resource"}, **ERRORS},
    )
    async def get_resource(
        request: Request, id: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        context = app_context(request)
        body = await context.read(
            lambda db: ResourceService(db, context.cipher, principal).get_json(rtype, id)
        )
        return Response(body, media_type="application/json")


def add_resource_routes(router: APIRouter, rtype: ResourceType) -> None:
    """Register create/replace/patch/delete (+ extras, dependencies) for ``rtype``."""
    name = rtype.name
    model: type[Document] = rtype.model
    read_model = output_model(rtype)
    tag: list[str | Enum] = [name]
    one = f"/{name}/{{id}}"

    @router.post(
        f"/{name}",
        tags=tag,
        summary=f"Create a {name[:-1]}",
        status_code=201,
        response_model=None,
        responses={201: {"model": read_model, "description": "Created"}, **ERRORS},
    )
    def create_resource(
        request: Request,
        payload: model = Body(),  # type: ignore[valid-type]
        principal: Principal = Depends(current_principal),
    ) -> Response:
        context = app_context(request)
        body = _sent(payload)
        with context.transaction() as session:
            doc = ResourceService(session, context.cipher, principal).create(rtype, body)
        return json_response(doc, 201)

    @router.put(
        one,
        tags=tag,
        summary=f"Replace a {name[:-1]} (omitted fields are erased)",
        response_model=None,
        responses={200: {"model": read_model, "description": "Replaced"}, **ERRORS},
    )
    def replace_resource(
        request: Request,
        id: str,
        payload: model = Body(),  # type: ignore[valid-type]
        principal: Principal = Depends(current_principal),
    ) -> Response:
        context = app_context(request)
        body = _sent(payload)
        with context.transaction() as session:
            doc = ResourceService(session, context.cipher, principal).replace(rtype, id, body)
        return json_response(doc)

    @router.patch(
        one,
        tags=tag,
        summary=f"Change a {name[:-1]} with a JSON Patch",
        status_code=204,
        response_model=None,
        responses={204: {"description": "Patched"}, **ERRORS},
    )
    def patch_resource(
        request: Request,
        id: str,
        operations: list[PatchOperation] = Body(),
        principal: Principal = Depends(current_principal),
    ) -> Response:
        context = app_context(request)
        ops = [op.model_dump(by_alias=True, exclude_unset=True) for op in operations]
        with context.transaction() as session:
            ResourceService(session, context.cipher, principal).patch(rtype, id, ops)
        return Response(status_code=204)

    @router.delete(
        one,
        tags=tag,
        summary=f"Delete a {name[:-1]}",
        status_code=204,
        response_model=None,
        responses={204: {"description": "Deleted"}, **ERRORS},
    )
    def delete_resource(
        request: Request, id: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        context = app_context(request)
        with context.transaction() as session:
            ResourceService(session, context.cipher, principal).delete(rtype, id)
        return Response(status_code=204)

    @router.get(
        f"{one}/dependencies",
        tags=tag,
        summary=f"What a {name[:-1]} uses and what uses it",
        response_model=None,
        responses={200: {"model": Dependencies, "description": "Dependencies"}, **ERRORS},
    )
    def dependencies(
        request: Request, id: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        context = app_context(request)
        with context.sessions() as session:
            doc = ResourceService(session, context.cipher, principal).dependencies(rtype, id)
        return json_response(doc)

    for kind in rtype.extras:
        _add_extra_routes(router, rtype, kind)


def _add_extra_routes(router: APIRouter, rtype: ResourceType, kind: str) -> None:
    path = f"/{rtype.name}/{{id}}/{kind}"
    tag: list[str | Enum] = [rtype.name]
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": ExtraDocument, "description": f"The {kind} component"},
        **ERRORS,
    }

    @router.get(
        path,
        tags=tag,
        summary=f"Get the {kind} component",
        response_model=None,
        responses=responses,
    )
    def get_extra(
        request: Request, id: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        context = app_context(request)
        with context.sessions() as session:
            doc = ResourceService(session, context.cipher, principal).get_extra(rtype, id, kind)
        return json_response(doc)

    @router.put(
        path,
        tags=tag,
        summary=f"Create or replace the {kind} component",
        response_model=None,
        responses=responses,
    )
    def put_extra(
        request: Request,
        id: str,
        payload: dict[str, Any] = Body(),
        principal: Principal = Depends(current_principal),
    ) -> Response:
        context = app_context(request)
        with context.transaction() as session:
            doc = ResourceService(session, context.cipher, principal).put_extra(
                rtype, id, kind, payload
            )
        return json_response(doc)
