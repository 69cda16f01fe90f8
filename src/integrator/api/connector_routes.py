"""A connector's (integration app's) lifecycle, on the connector's stack (reference §7.1-7.3):

* ``POST /integrations/{_connectorId}/install``: create the integration (``_connectorId``,
  ``mode: "install"``), then call the connector's ``installerFunction``;
* ``PUT /integrations/{_id}/installer/{function}``, ``.../uninstaller/{function}``,
  ``.../settings/{function}``: call that function of the connector's module and answer its
  result (``persistSettings`` also saves the settings it accepted);
* ``DELETE /integrations/{_id}/install``: call the connector's ``uninstallerFunction``, then
  delete the integration and what belongs to it.

Every call goes through the hook runner with the caller's account and the connector's id, so
the function gets a one-time ``bearerToken`` that sees only the connector's resources and stops
working when the call returns. The stack answers ``POST /function`` with ``_connectorId`` and
``type`` ``installer``, ``uninstaller`` or ``setting`` (``hooks/stacks.py``).

A connector is installed from its own account, or from any account once it is ``published``;
its stack stays in its owner's account. What the stack throws comes back as 422
``{"errors": [{"code", "message"}]}`` with the stack's own code.

Hooks' one-time tokens may not drive a lifecycle (403): a connector's function could otherwise
uninstall the integration it is running for, or call itself in a loop.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Path, Request
from sqlalchemy import select
from starlette.responses import Response

from integrator.api.auth import app_context, current_principal
from integrator.api.context import AppContext
from integrator.api.resource_routes import json_response
from integrator.api.schemas import ERRORS
from integrator.engine.hooks import CallKind, HookContext, HookError, HookRef
from integrator.errors import ErrorItem, Forbidden, IntegratorError, NotFound, ValidationFailed
from integrator.ids import is_object_id
from integrator.resources import REGISTRY
from integrator.resources.base import ResourceType
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal
from integrator.store.models import Resource

router = APIRouter()
log = logging.getLogger("integrator.api")

INTEGRATIONS = REGISTRY["integrations"]
CONNECTORS = REGISTRY["connectors"]
#: Page size when collecting what an uninstall deletes.
PAGE = 1000
ONE_TIME_TOKENS = "One-time tokens of hooks cannot install, uninstall or configure connectors."


class ExtensionFailed(IntegratorError):
    """422: the connector's function failed on its stack (the stack's code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(422, [ErrorItem(code, message)])


@dataclass(frozen=True)
class Connector:
    """A connector found for a caller: its id, the account that owns it, its document."""

    id: str
    account_id: str
    doc: dict[str, Any]

    def function(self, field: str) -> str:
        """The function named in ``field`` (``installerFunction``); 422 when there is none, or
        no stack to run it on."""
        name = self.doc.get(field)
        if not isinstance(name, str) or not name:
            raise ValidationFailed.one(
                "missing_required_field", f"Connector '{self.id}' has no {field}.", field
            )
        self.stack_id()
        return name

    def stack_id(self) -> str:
        """The stack its functions run on (in the owner's account); 422 when there is none."""
        stack_id = self.doc.get("_stackId")
        if not isinstance(stack_id, str) or not stack_id:
            raise ValidationFailed.one(
                "missing_required_field",
                f"Connector '{self.id}' has no _stackId: it has no functions to run.",
                "_stackId",
            )
        return stack_id


# --- finding things ---------------------------------------------------------------------------


def _refuse_one_time_tokens(principal: Principal) -> None:
    if principal.scope is not None:
        raise Forbidden(ONE_TIME_TOKENS)


def _connector(context: AppContext, principal: Principal, connector_id: str) -> Connector:
    """The caller's own connector, else another account's published one; 404 otherwise (a
    connector another account has not published does not exist for the caller)."""
    missing = NotFound(f"No connector with _id '{connector_id}'.")
    if not is_object_id(connector_id):
        raise missing
    with context.reading() as connection:
        # Across accounts on purpose: published connectors are the marketplace.
        row = connection.execute(
            select(Resource.account_id, Resource.doc).where(
                Resource.id == connector_id, Resource.type == CONNECTORS.name
            )
        ).first()
    if row is None:
        raise missing
    if row.account_id != principal.account_id and row.doc.get("published") is not True:
        raise missing
    return Connector(connector_id, row.account_id, dict(row.doc))


def _installed(
    context: AppContext, principal: Principal, integration_id: str
) -> tuple[dict[str, Any], Connector]:
    """The caller's integration and the connector it was installed from."""
    with context.reading() as connection:
        integration = ResourceService(connection, context.cipher, principal).get(
            INTEGRATIONS, integration_id
        )
    connector_id = integration.get("_connectorId")
    if not isinstance(connector_id, str):
        raise ValidationFailed.one(
            "invalid_field",
            f"Integration '{integration_id}' was not installed from a connector.",
            "_connectorId",
        )
    return integration, _connector(context, principal, connector_id)


def _body(value: Any) -> Any:
    """What a lifecycle call passes as ``opts``: the request body, ``{}`` when there is none."""
    return {} if value is None else value


# --- calling the connector --------------------------------------------------------------------


def _call(
    context: AppContext,
    principal: Principal,
    connector: Connector,
    function: str,
    kind: CallKind,
    options: dict[str, Any],
    integration_id: str,
) -> Any:
    """Run ``function`` on the connector's stack with a connector-scoped one-time token."""
    ref = HookRef(name=function, function=function, stack_id=connector.stack_id())
    hook_context = HookContext(
        account_id=principal.account_id,
        integration_id=integration_id,
        connector_id=connector.id,
    )
    try:
        return context.hooks.call(ref, options, hook_context, kind=kind)
    except HookError as exc:
        raise ExtensionFailed(exc.code, str(exc)) from exc


# --- removing an installation -----------------------------------------------------------------


def _every(service: ResourceService, rtype: ResourceType, filters: dict[str, str]) -> Iterator[Any]:
    """Every resource of ``rtype`` matching ``filters`` that the caller sees, page by page."""
    skip = 0
    while True:
        page = service.list_json(rtype, filters, skip, PAGE)
        for raw in page:
            yield orjson.loads(raw)
        if len(page) < PAGE:
            return
        skip += PAGE


def _installation(
    service: ResourceService, integration_id: str, connector_id: str
) -> list[tuple[ResourceType, str]]:
    """What an uninstall deletes, the integration last: every resource whose
    ``_integrationId`` is the integration (its flows, and what the connector made for it), and
    the connector's untagged resources (``_connectorId`` without ``_integrationId``) when no
    other integration of the account was installed from the same connector."""
    others = [
        doc["_id"]
        for doc in _every(service, INTEGRATIONS, {"_connectorId": connector_id})
        if doc["_id"] != integration_id
    ]
    found: dict[str, ResourceType] = {}
    for rtype in REGISTRY.values():
        if rtype is CONNECTORS:
            continue
        for doc in _every(service, rtype, {"_integrationId": integration_id}):
            found[doc["_id"]] = rtype
        if others:
            continue
        for doc in _every(service, rtype, {"_connectorId": connector_id}):
            if doc.get("_integrationId") is None:
                found[doc["_id"]] = rtype
    found.pop(integration_id, None)
    return [(rtype, id_) for id_, rtype in found.items()] + [(INTEGRATIONS, integration_id)]


def _remove_installation(service: ResourceService, integration_id: str, connector_id: str) -> None:
    """Delete the installation (``_installation``) in an order its references allow: each
    pass deletes what nothing else uses any more. What stays in use by resources outside the
    installation is kept; an integration still in use fails the uninstall (422
    ``resource_in_use``), leaving everything as it was."""
    pending = _installation(service, integration_id, connector_id)
    failures: dict[str, ValidationFailed] = {}
    while pending:
        blocked: list[tuple[ResourceType, str]] = []
        for rtype, id_ in pending:
            try:
                service.delete(rtype, id_)
                service.session.flush()
            except NotFound:
                continue
            except ValidationFailed as exc:
                blocked.append((rtype, id_))
                failures[id_] = exc
        if len(blocked) == len(pending):
            break
        pending = blocked
    if any(id_ == integration_id for _, id_ in pending):
        raise failures[integration_id]


# --- routes -----------------------------------------------------------------------------------

_TAG: list[Any] = ["integrations"]
_RESULT: dict[int | str, dict[str, Any]] = {
    200: {"description": "What the function returned (JSON; null when nothing)"}
}


@router.post(
    "/integrations/{_connectorId}/install",
    tags=_TAG,
    summary="Install a connector: create its integration, then run its installerFunction",
    status_code=201,
    response_model=None,
    responses={201: {"description": "The integration, as the installer left it"}, **ERRORS},
)
def install_connector(
    request: Request,
    connector_id: str = Path(alias="_connectorId"),
    opts: Any = Body(default=None, description="Passed to the installer as options.opts"),
    principal: Principal = Depends(current_principal),
) -> Response:
    """A failed installer (422) leaves nothing behind: the integration and what the installer
    made for it are deleted again, so the install can simply be retried."""
    context = app_context(request)
    _refuse_one_time_tokens(principal)
    connector = _connector(context, principal, connector_id)
    function = connector.function("installerFunction")
    with context.transaction() as session:
        created = ResourceService(session, context.cipher, principal).create(
            INTEGRATIONS,
            {"name": connector.doc.get("name"), "_connectorId": connector.id, "mode": "install"},
        )
    integration_id = str(created["_id"])
    options = {"_integrationId": integration_id, "_connectorId": connector.id, "opts": _body(opts)}
    try:
        _call(context, principal, connector, function, "installer", options, integration_id)
    except ExtensionFailed:
        try:
            with context.transaction() as session:
                service = ResourceService(session, context.cipher, principal)
                _remove_installation(service, integration_id, connector.id)
        except IntegratorError:
            # The installer's own error is the one to report; the integration stays.
            log.warning(
                "Removing failed install %s left it in place", integration_id, exc_info=True
            )
        raise
    with context.reading() as connection:
        integration = ResourceService(connection, context.cipher, principal).get(
            INTEGRATIONS, integration_id
        )
    return json_response(integration, 201)


@router.delete(
    "/integrations/{_id}/install",
    tags=_TAG,
    summary="Uninstall a connector: run its uninstallerFunction, then delete the integration",
    status_code=204,
    response_model=None,
    responses={204: {"description": "Uninstalled"}, **ERRORS},
)
def uninstall_connector(
    request: Request,
    integration_id: str = Path(alias="_id"),
    principal: Principal = Depends(current_principal),
) -> Response:
    """``mode`` becomes ``uninstall`` before the uninstaller runs and stays so when it fails
    (422): the uninstall can be retried. A connector without an ``uninstallerFunction`` has
    nothing to run: its integration is deleted straight away."""
    context = app_context(request)
    _refuse_one_time_tokens(principal)
    integration, connector = _installed(context, principal, integration_id)
    if connector.doc.get("uninstallerFunction"):
        function = connector.function("uninstallerFunction")
        if integration.get("mode") != "uninstall":
            with context.transaction() as session:
                ResourceService(session, context.cipher, principal).patch(
                    INTEGRATIONS,
                    integration_id,
                    [{"op": "add", "path": "/mode", "value": "uninstall"}],
                )
        options = {"_integrationId": integration_id, "opts": {}}
        _call(context, principal, connector, function, "uninstaller", options, integration_id)
    with context.transaction() as session:
        service = ResourceService(session, context.cipher, principal)
        _remove_installation(service, integration_id, connector.id)
    return Response(status_code=204)


def _run(
    request: Request,
    principal: Principal,
    integration_id: str,
    function: str,
    kind: CallKind,
    body: Any,
) -> Response:
    context = app_context(request)
    _refuse_one_time_tokens(principal)
    _, connector = _installed(context, principal, integration_id)
    options: dict[str, Any] = {"_integrationId": integration_id, "opts": _body(body)}
    if kind == "setting" and isinstance(body, dict):
        # integrator.io passes a settings call's fields (pending, the refreshed field...) in
        # options itself; the platform's own keys win.
        options = {**body, **options}
    pending = None
    if kind == "setting" and function == "persistSettings":
        pending = body.get("pending") if isinstance(body, dict) else None
        if not isinstance(pending, dict):
            raise ValidationFailed.one(
                "missing_required_field",
                'persistSettings needs the changed settings: {"pending": {...}}.',
                "pending",
            )
    result = _call(context, principal, connector, function, kind, options, integration_id)
    if pending is not None and isinstance(result, dict) and result.get("success") is True:
        accepted = result.get("pending")
        _save_settings(
            context, principal, integration_id, pending if accepted is None else accepted
        )
    return json_response(result)


def _save_settings(
    context: AppContext, principal: Principal, integration_id: str, values: Any
) -> None:
    """Merge what persistSettings accepted into the integration's ``settings`` (top-level keys
    replaced), on top of whatever the function itself wrote there during the call."""
    if not isinstance(values, dict):
        raise ExtensionFailed(
            "invalid_extension_response",
            "persistSettings answered a pending that is not an object.",
        )
    with context.transaction() as session:
        service = ResourceService(session, context.cipher, principal)
        current = service.get(INTEGRATIONS, integration_id).get("settings")
        settings = {**(current if isinstance(current, dict) else {}), **values}
        service.patch(
            INTEGRATIONS, integration_id, [{"op": "add", "path": "/settings", "value": settings}]
        )


_KINDS: dict[str, CallKind] = {
    "installer": "installer",
    "uninstaller": "uninstaller",
    "settings": "setting",
}


def _add_function_route(section: str, kind: CallKind) -> None:
    @router.put(
        f"/integrations/{{_id}}/{section}/{{function}}",
        tags=_TAG,
        summary=f"Run a function of the connector's {section} module",
        name=f"run_{section}_function",
        response_model=None,
        responses={**_RESULT, **ERRORS},
    )
    def run_function(
        request: Request,
        function: str,
        integration_id: str = Path(alias="_id"),
        body: Any = Body(default=None, description="Passed to the function as options.opts"),
        principal: Principal = Depends(current_principal),
    ) -> Response:
        return _run(request, principal, integration_id, function, kind, body)


for _section, _kind in _KINDS.items():
    _add_function_route(_section, _kind)
