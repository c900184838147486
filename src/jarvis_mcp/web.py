"""One HTTP app: streamable HTTP at /mcp, legacy HTTP+SSE at /sse (+ /messages/), /healthz, RFC 9728 metadata;
and the uvicorn server that runs it, whose shutdown lets the calls in flight answer."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import uvicorn
from mcp.server.mcpserver import MCPServer
from sse_starlette.sse import AppStatus
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from jarvis_mcp import __version__
from jarvis_mcp.config import ConfigError, Settings

log = logging.getLogger(__name__)

# After the last call in flight returns, how long its answer may take to reach an event stream before the
# streams end: the runner writes the answer just after the handler returns, through in-memory streams.
_SETTLE_S = 0.3


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(settings: Settings, host: str) -> None:
    """Without token verification every caller is the local user, so only this machine may connect."""
    if not settings.auth_enabled and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve {host} without bearer tokens: set JARVIS_JWT_SECRET or JARVIS_JWKS_URL, "
            "or bind 127.0.0.1"
        )
    if settings.sign_in and not is_loopback(host):
        # People sign in and are sent back at that URL: it must be the one they reach, and over https.
        public = urlsplit(settings.public_url or "")
        if public.scheme != "https" and not is_loopback(public.hostname or ""):
            raise ConfigError("JARVIS_SIGN_IN: serving beyond loopback needs JARVIS_PUBLIC_URL, the https URL "
                              "people reach /mcp at (e.g. https://jarvis.example.com/mcp)")


def http_app(mcp: MCPServer[Any], *, host: str, stateless: bool = False) -> Starlette:
    @mcp.custom_route("/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    streamable = mcp.streamable_http_app(stateless_http=stateless, host=host)
    sse = mcp.sse_app(host=host)
    seen = {getattr(r, "path", None) for r in streamable.routes}
    extra = list(getattr(mcp, "extra_routes", []))  # the sign-in pages and authorization server, if on
    routes = [*extra, *streamable.routes, *(r for r in sse.routes if getattr(r, "path", None) not in seen)]
    # The streamable app's lifespan runs the session manager (without it every /mcp request answers 500);
    # both apps build the same auth middleware from the server's settings.
    lifespan = streamable.router.lifespan_context
    if extra:
        lifespan = _holding_runtime(mcp, lifespan)
    app = Starlette(routes=routes, middleware=streamable.user_middleware, lifespan=lifespan)
    app.state.in_flight = in_flight = InFlight()
    mcp.middleware.append(in_flight.mcp_middleware)
    app.add_middleware(_CountPosts, in_flight=in_flight)
    return app


def _holding_runtime(mcp: MCPServer[Any], inner: Any) -> Any:
    """The app's lifespan, holding the shared runtime open all along: the sign-in pages answer outside any
    MCP session, so they cannot rely on one to have opened the store."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Any]:
        shared = mcp.shared  # type: ignore[attr-defined]
        await anyio.to_thread.run_sync(shared.acquire)
        try:
            async with inner(app) as state:
                yield state
        finally:
            await anyio.to_thread.run_sync(shared.release)

    return lifespan


class InFlight:
    """Requests that still owe an answer. Two views, because answers travel two ways: a POST to /mcp
    carries its own answer (counted around the ASGI call), while a legacy /sse client's answer leaves on
    its GET stream after the POST was long accepted (counted around the MCP request)."""

    def __init__(self) -> None:
        self.count = 0

    async def mcp_middleware(self, ctx: Any, call_next: Any) -> Any:
        if ctx.request_id is None or ctx.method == _LISTEN:
            return await call_next(ctx)
        self.count += 1
        try:
            return await call_next(ctx)
        finally:
            self.count -= 1


# A subscription stream stays open by design: waiting for it would always use the whole grace period.
_LISTEN = "subscriptions/listen"


class _CountPosts:
    def __init__(self, app: ASGIApp, in_flight: InFlight) -> None:
        self.app = app
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # GET streams owe nothing by themselves; they end when the shutdown says so.
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD") or _header(scope, b"mcp-method") == _LISTEN:
            await self.app(scope, receive, send)
            return
        self.in_flight.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.count -= 1


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def serve(app: Starlette, *, host: str, port: int, grace_seconds: float, started: Callable[[], None]) -> bool:
    """Run uvicorn until SIGTERM/SIGINT; False when it never started. On the signal it stops accepting,
    lets every call in flight answer for up to grace_seconds, then ends the event streams and exits.

    started() runs once the server (and its lifespan) is up."""
    # sse-starlette ends every event stream the moment uvicorn sees the signal, a streamed POST's
    # answer included: the call finished (the email went out) and its caller never heard. The streams
    # end in _Server.shutdown instead, once nothing is owed.
    AppStatus.disable_automatic_graceful_drain()
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=grace_seconds)
    server = _Server(config, app.state.in_flight, started)
    server.run()
    return server.started


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, in_flight: InFlight, started: Callable[[], None]) -> None:
        super().__init__(config)
        self.in_flight = in_flight
        self.on_started = started

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_started()

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        ender = asyncio.create_task(_end_streams(self.in_flight, self.config.timeout_graceful_shutdown))
        try:
            await super().shutdown(sockets)
        finally:
            ender.cancel()


async def _end_streams(in_flight: InFlight, grace: float | None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (math.inf if grace is None else grace)
    if in_flight.count:
        log.info("shutting down: waiting up to %s s for %d call(s) in flight to answer", grace, in_flight.count)
    while in_flight.count and loop.time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(_SETTLE_S)
    AppStatus.should_exit = True
