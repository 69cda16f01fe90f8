"""The FastAPI application: ``create_app(context)``; ``build_context(settings)`` wires storage."""

from __future__ import annotations

import hashlib
import logging

from fastapi import APIRouter, FastAPI
from starlette.responses import Response

from integrator import __version__
from integrator.adaptors.http.concurrency import CONCURRENCY
from integrator.adaptors.http.refresh import REFRESHES
from integrator.api.connection_routes import router as connection_router
from integrator.api.connector_routes import router as connector_router
from integrator.api.context import AppContext, AuthCache
from integrator.api.error_routes import router as error_router
from integrator.api.errors import install_error_handlers
from integrator.api.invoke_routes import add_invoke_route
from integrator.api.invoke_routes import router as invoke_router
from integrator.api.job_routes import router as job_router
from integrator.api.limits import BodySizeLimit, V1Alias
from integrator.api.platform_routes import (
    add_fallback_routes,
    add_resource_audit_route,
    add_resource_state_routes,
)
from integrator.api.platform_routes import router as platform_router
from integrator.api.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from integrator.api.resource_routes import add_resource_read_routes, add_resource_routes
from integrator.api.retry_routes import router as retry_router
from integrator.api.script_routes import router as script_router
from integrator.api.webhook_routes import Listeners
from integrator.api.webhook_routes import router as webhook_router
from integrator.config import Settings
from integrator.engine.background import Background
from integrator.engine.celery_app import CeleryQueue, make_celery, register_tasks
from integrator.engine.paged_exports import PagedExports
from integrator.engine.pagestore import page_store
from integrator.engine.runner import FlowRunner
from integrator.engine.steps import stored_tokens_reader
from integrator.hooks.runner import ScriptHookRunner
from integrator.resources import REGISTRY
from integrator.store.crypto import Cipher, load_or_create_key_file
from integrator.store.db import make_engine, make_session_factory
from integrator.store.migrate import upgrade

log = logging.getLogger("integrator")

#: Resource types that carry state keys (``/v1/{type}/{id}/state/{key}``).
STATE_TYPES = ("integrations", "flows", "exports", "imports", "connections")


def build_context(settings: Settings, *, migrate: bool = True) -> AppContext:
    """Open the database (migrating it), load the secret key, pick the rate limiter."""
    engine = make_engine(settings.effective_database_url)
    if migrate:
        upgrade(engine)
    key = settings.secret_key or load_or_create_key_file(settings.home / "secret.key")
    limiter: RateLimiter
    if settings.redis_url:
        limiter = RedisRateLimiter(
            settings.redis_url, settings.rate_limit_bucket, settings.rate_limit_per_second
        )
    else:
        limiter = MemoryRateLimiter(settings.rate_limit_bucket, settings.rate_limit_per_second)
    # Connections' concurrencyLevel holds across processes when they share a Redis.
    CONCURRENCY.share_through(settings.redis_url)
    sessions = make_session_factory(engine)
    cipher = Cipher.from_setting(key)
    # OAuth refreshes queue across processes too (rotating refresh tokens are sent once).
    REFRESHES.share_through(settings.redis_url, stored_tokens_reader(sessions, cipher))
    celery = make_celery(settings)
    hooks = ScriptHookRunner(sessions, cipher, settings)
    runner = FlowRunner(
        sessions,
        cipher,
        CeleryQueue(celery),
        hooks=hooks,
        pages=page_store(settings.page_store_url),
    )
    register_tasks(celery, runner)
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        cipher=cipher,
        limiter=limiter,
        auth_cache=AuthCache(settings.auth_cache_seconds),
        # Its own key, derived from the master key: states are signed, never encrypted.
        paged_exports=PagedExports(hashlib.sha256(b"paged-export-state:" + key.encode()).digest()),
        runner=runner,
        celery=celery,
        background=Background(settings, sessions, runner, celery),
        hooks=hooks,
        listeners=Listeners(sessions, cipher, runner),
    )


def api_router() -> APIRouter:
    """Every ``/v1`` route; the unprefixed alias is a path rewrite (``V1Alias``)."""
    router = APIRouter(prefix="/v1")
    # First: a listener's path must not be taken for a resource's sub-document.
    router.include_router(webhook_router)
    for rtype in REGISTRY.values():
        add_resource_read_routes(router, rtype)
    for rtype in REGISTRY.values():
        add_resource_routes(router, rtype)
        add_resource_audit_route(router, rtype.name)
    router.include_router(platform_router)
    router.include_router(connection_router)
    router.include_router(invoke_router)
    for name in STATE_TYPES:
        add_resource_state_routes(router, name)
    # After the state routes: /flows/{id}/state/{key} wins over /flows/{flowId}/{stepId}/errors.
    router.include_router(job_router)
    router.include_router(error_router)
    router.include_router(retry_router)
    router.include_router(script_router)
    router.include_router(connector_router)
    add_invoke_route(router)
    add_fallback_routes(router)
    return router


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(
        title="Integrator",
        version=__version__,
        description="Self-hostable integration platform speaking the integrator.io API.",
        openapi_url="/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.context = context
    install_error_handlers(app)
    app.include_router(api_router())

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    app.add_middleware(BodySizeLimit, max_bytes=context.settings.max_body_bytes)
    # integrator.io's documents show both /v1/exports and /exports: answer on both.
    app.add_middleware(V1Alias)
    return app
