"""Everything under /app, for server.py to mount next to /mcp: the pages, their live events, their files."""

from __future__ import annotations

from typing import Any

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from jarvis_mcp.config import Settings
from jarvis_mcp.runtime import SharedRuntime
from jarvis_mcp.webapp import approvals
from jarvis_mcp.webapp.live import events_endpoint
from jarvis_mcp.webapp.pages import AppPages
from jarvis_mcp.webapp.web import AppWeb


def app_routes(shared: SharedRuntime, settings: Settings, *, read_only: bool = False) -> list[Any]:
    app = AppWeb(shared, settings, read_only=read_only)
    return [
        Route("/app/events", events_endpoint(app), methods=["GET"]),
        Mount("/app/static", StaticFiles(packages=[("jarvis_mcp.webapp", "static")]), name="app-static"),
        *AppPages(app).routes(),
        *approvals.routes(app),  # pending actions, approved with the voice key (approvals.py)
    ]
