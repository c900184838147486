"""Shared by the /app route tests: one signed-in server (TestClient) and two people, A and B, whose session
cookies the tests swap on the one client (a second client would start the MCP session manager twice)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oauth_support import BASE, csrf, settings, sign_in_by_email
from starlette.testclient import TestClient

from jarvis_mcp.identity.service import SignInService
from jarvis_mcp.scope import UserScope
from jarvis_mcp.server import JarvisServer, build_server
from jarvis_mcp.web import http_app

SESSION = "jarvis_session"


@dataclass
class Site:
    client: TestClient
    mcp: JarvisServer
    sessions: dict[str, str]  # "a" / "b" -> session cookie

    def as_user(self, who: str) -> TestClient:
        self.client.cookies.delete(SESSION)
        self.client.cookies.set(SESSION, self.sessions[who], domain="127.0.0.1", path="/")
        return self.client

    def user_id(self, who: str) -> str:
        record = SignInService(self.mcp.shared.runtime.store).session_user(self.sessions[who])
        assert record is not None
        return record.user_id

    def scope(self, who: str) -> UserScope:
        return self.mcp.shared.runtime.scope_for(self.user_id(who))

    def token(self, path: str = "/app") -> str:
        """A CSRF token from a page the current person can see."""
        page = self.client.get(path)
        assert page.status_code == 200, page.text[:300]
        return csrf(page.text)


@contextmanager
def site(home: Path, embedder: Any, **overrides: Any) -> Iterator[Site]:
    mcp = build_server(settings(home, **overrides), embedder=embedder)
    app = http_app(mcp, host="127.0.0.1", stateless=True)
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        sessions = {}
        for who, address in (("a", "ana@example.com"), ("b", "bruno@example.org")):
            client.cookies.delete(SESSION)
            answer = sign_in_by_email(client, address, "/app")
            assert answer.status_code == 303 and answer.headers["location"] == "/app", answer.text[:300]
            sessions[who] = client.cookies.get(SESSION)
        yield Site(client, mcp, sessions)


def section(html: str, element_id: str) -> str:
    found = re.search(rf'<section id="{element_id}"(.*?)</section>', html, re.S)
    assert found, f"no section {element_id}"
    return found.group(1)
