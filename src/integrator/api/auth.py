"""Bearer-token authentication and the per-account rate limit, as one FastAPI dependency."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from integrator.api.context import AppContext
from integrator.api.ratelimit import retry_after_seconds
from integrator.errors import RateLimited, Unauthorized
from integrator.store.accounts import Principal, authenticate, hash_token


def app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def _lookup(context: AppContext, token: str) -> Principal | None:
    with context.reading() as connection:
        return authenticate(connection, token)


async def current_principal(request: Request) -> Principal:
    """Who is calling, from ``Authorization: Bearer <token>``; then one token of their bucket.

    Async so that a cached token costs no thread hop; database and Redis calls, which block,
    go to the thread pool.
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
    if context.limiter.blocking:
        wait = await run_in_threadpool(context.limiter.take, principal.account_id)
    else:
        wait = context.limiter.take(principal.account_id)
    if wait > 0:
        raise RateLimited(retry_after_seconds(wait))
    return principal
