"""ASGI middleware that runs before routing: the body size limit and the unprefixed alias."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrator.api.errors import envelope
from integrator.errors import PayloadTooLarge


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Pure ASGI middleware: checks ``Content-Length`` and counts streamed (chunked) bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(scope, receive, send)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(self.max_bytes)
        await envelope(error.status, error.items)(scope, receive, send)


class V1Alias:
    """Serve ``/exports`` as ``/v1/exports``: integrator.io's documents use both forms.

    Rewriting the path once is cheaper than registering every route twice.
    """

    UNPREFIXED = ("/v1/", "/docs", "/healthz")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path != "/v1" and not path.startswith(self.UNPREFIXED) and path != "/":
                scope = {**scope, "path": "/v1" + path}
                raw = scope.get("raw_path")
                if raw is not None:
                    scope["raw_path"] = b"/v1" + raw
        await self.app(scope, receive, send)
