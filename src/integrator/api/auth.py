"""Bearer-token authentication, what a hook's one-time token may call, and the per-account
rate limit, as one FastAPI dependency."""

from __future__ import annotations

import re

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from integrator.api.context import AppContext
from integrator.api.ratelimit import retry_after_seconds
from integrator.errors import Forbidden, RateLimited, Unauthorized
from integrator.resources.base import REGISTRY
from integrator.store.accounts import (
    CONNECTOR_SCOPE,
    INVOKE_SCOPE,
    Principal,
    authenticate,
    hash_token,
)

#: What a one-time token of a hook outside a connector may call besides the state API:
#: ``(method, route template under /v1)``.
INVOKE_ROUTES = frozenset(
    {
        ("GET", "/tokenInfo"),
        ("POST", "/{api_identifier}"),
        ("POST", "/exports/{id}/invoke"),
        ("POST", "/imports/{id}/invoke"),
        ("POST", "/flows/{id}/run"),
        ("GET", "/connections/{id}"),
    }
)
#: The state API: ``/state[/{key}]`` and ``/{type}/{id}/state[/{key}]``.
_STATE_ROUTE = re.compile(r"^(/[A-Za-z]+/\{id\})?/state(/\{key\})?$")
INVOKE_ONLY = (
    "One-time tokens of hooks may only invoke exports and imports, run flows and use the state API."
)
CONNECTOR_ONLY = "One-time tokens of connectors may only use their connector's resources."


def app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def route_template(request: Request) -> str:
    """The matched route's path template under ``/v1`` (``/exports/{id}``). Routes declared on
    the ``/v1`` router itself carry the prefix in their template; included routers' do not."""
    path = getattr(request.scope.get("route"), "path", "")
    return str(path).removeprefix("/v1")


def check_scope(principal: Principal, method: str, template: str) -> None:
    """Refuse (403) what a one-time token's scope does not allow.

    ``invoke``: ``INVOKE_ROUTES`` and the state API. ``connector``: those and every route under
    a resource type (``/{type}...``), except audit trails; the resource service then shows
    only the connector's resources (``ResourceService.confined_to``). Account-wide records
    (jobs, retries, the audit log) are refused, as they are not tied to one resource.
    """
    if principal.scope is None:
        return
    if (method, template) in INVOKE_ROUTES or _STATE_ROUTE.match(template):
        return
    if principal.scope == INVOKE_SCOPE:
        raise Forbidden(INVOKE_ONLY)
    first = template.split("/", 2)[1] if template.startswith("/") else ""
    if principal.scope == CONNECTOR_SCOPE and first in REGISTRY and not template.endswith("/audit"):
        return
    raise Forbidden(CONNECTOR_ONLY)


def _lookup(context: AppContext, token: str) -> Principal | None:
    with context.reading() as connection:
        return authenticate(connection, token)


async def current_principal(request: Request) -> Principal:
    """Who is calling, from ``Authorization: Bearer <token>``; then one token of their bucket.

    Async so that a cached token costs no thread hop; database and Redis calls, which block,
    go to the thread pool. One-time tokens are looked up on every request (``AuthCache``
    keeps none), then held to their scope (``check_scope``).
    """
    context = app_context(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized()
    token_hash = hash_token(token)
    principal = context.auth_cache.get(token_hash)
    if principal is None:
        principal = await run_in_threadpool(_lookup, context, token)
        if principal is None:
            raise Unauthorized()
        context.auth_cache.put(token_hash, principal)
    check_scope(principal, request.method, route_template(request))
    if context.limiter.blocking:
        wait = await run_in_threadpool(context.limiter.take, principal.account_id)
    else:
        wait = context.limiter.take(principal.account_id)
    if wait > 0:
        raise RateLimited(retry_after_seconds(wait))
    return principal
