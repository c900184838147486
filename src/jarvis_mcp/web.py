"""One HTTP app: streamable HTTP at /mcp, legacy HTTP+SSE at /sse (+ /messages/), /healthz, RFC 9728 metadata."""

from __future__ import annotations

import ipaddress
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from jarvis_mcp import __version__
from jarvis_mcp.config import ConfigError, Settings


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


def http_app(mcp: MCPServer[Any], *, host: str, stateless: bool = False) -> Starlette:
    @mcp.custom_route("/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    streamable = mcp.streamable_http_app(stateless_http=stateless, host=host)
    sse = mcp.sse_app(host=host)
    seen = {getattr(r, "path", None) for r in streamable.routes}
    routes = [*streamable.routes, *(r for r in sse.routes if getattr(r, "path", None) not in seen)]
    # The streamable app's lifespan runs the session manager (without it every /mcp request answers 500);
    # both apps build the same auth middleware from the server's settings.
    return Starlette(routes=routes, middleware=streamable.user_middleware, lifespan=streamable.router.lifespan_context)
