"""In-process helpers for the authorization server's tests: the real HTTP app (sign-in pages, /authorize,
/token, /mcp) behind Starlette's TestClient, and a person who signs in by email link on its pages."""

from __future__ import annotations

import base64
import email
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.testclient import TestClient

from jarvis_mcp.config import Settings
from jarvis_mcp.server import build_server
from jarvis_mcp.web import http_app

BASE = "http://127.0.0.1:8765"
RESOURCE = f"{BASE}/mcp"
REDIRECT = "http://127.0.0.1:9999/callback"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r"https?://\S+/signin/email/verify\?token=[\w\-.~%]+")


def settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"sign_in": ["email", "wallet"], "public_url": RESOURCE}
    values.update(overrides)
    return Settings(home=home, **values)


@contextmanager
def app_client(settings: Settings, embedder: Any) -> Iterator[TestClient]:
    mcp = build_server(settings, embedder=embedder)
    app = http_app(mcp, host="127.0.0.1", stateless=True)
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        yield client


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html[:500]
    return found.group(1)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def register(client: TestClient, redirect: str = REDIRECT, name: str = "Test App", **extra: Any) -> str:
    answer = client.post("/register", json={"redirect_uris": [redirect], "client_name": name,
                                            "token_endpoint_auth_method": "none", **extra})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client_id"])


def read_link(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    found = _LINK.search(body.get_content())
    assert found, body.get_content()
    return found.group(0)


def email_link(client: TestClient, address: str, next_url: str = "/account/identities") -> str:
    """Ask for a sign-in link on the page; the link, read back from the outbox file the page names."""
    page = client.get("/signin", params={"next": next_url})
    sent = client.post("/signin/email", data={"email": address, "csrf_token": csrf(page.text), "next": next_url})
    assert sent.status_code == 200, sent.text
    path = re.search(r'id="outbox-path">([^<]+)<', sent.text)
    assert path, sent.text
    return read_link(Path(path.group(1)))


def follow_link(client: TestClient, link: str) -> Any:
    parts = urlsplit(link)
    confirm = client.get(f"{parts.path}?{parts.query}")
    token = parse_qs(parts.query)["token"][0]
    return client.post("/signin/email/verify", data={"token": token, "csrf_token": csrf(confirm.text)})


def sign_in_by_email(client: TestClient, address: str, next_url: str = "/account/identities") -> Any:
    return follow_link(client, email_link(client, address, next_url))


@dataclass
class Grant:
    client_id: str
    verifier: str
    redirect: str = REDIRECT
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))


def authorize_url(grant: Grant, challenge: str, scope: str | None = None, resource: str | None = RESOURCE) -> str:
    params = {"response_type": "code", "client_id": grant.client_id, "redirect_uri": grant.redirect,
              "code_challenge": challenge, "code_challenge_method": "S256", "state": grant.state}
    if scope:
        params["scope"] = scope
    if resource:
        params["resource"] = resource
    return "/authorize?" + urlencode(params)


def authorize(client: TestClient, grant: Grant, challenge: str, *, address: str | None = None,
              scope: str | None = None, decision: str = "approve") -> dict[str, list[str]]:
    """/authorize -> (sign in by email if not yet) -> consent -> the redirect's query parameters."""
    answer = client.get(authorize_url(grant, challenge, scope))
    assert answer.status_code == 302, answer.text
    consent_url = answer.headers["location"]
    page = client.get(consent_url)
    if page.status_code == 303:  # not signed in: the sign-in page, then back to consent
        assert address, "not signed in"
        next_url = parse_qs(urlsplit(page.headers["location"]).query)["next"][0]
        done = sign_in_by_email(client, address, next_url)
        assert done.status_code == 303, done.text
        page = client.get(done.headers["location"])
    assert page.status_code == 200, page.text
    request_id = parse_qs(urlsplit(consent_url).query)["request"][0]
    back = client.post("/consent", data={"request": request_id, "decision": decision, "csrf_token": csrf(page.text)})
    assert back.status_code == 303, back.text
    location = back.headers["location"]
    assert location.startswith(grant.redirect), location
    return parse_qs(urlsplit(location).query)


def exchange(client: TestClient, grant: Grant, code: str, verifier: str | None = None) -> Any:
    return client.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": grant.redirect,
                                       "client_id": grant.client_id, "code_verifier": verifier or grant.verifier})


def tokens_for(client: TestClient, address: str, *, scope: str | None = None, name: str = "Test App") -> dict[str, Any]:
    """A whole sign-in: a DCR client, email link, consent, code exchange; the token response."""
    verifier, challenge = pkce()
    grant = Grant(register(client, name=name), verifier)
    query = authorize(client, grant, challenge, address=address, scope=scope)
    answer = exchange(client, grant, query["code"][0])
    assert answer.status_code == 200, answer.text
    return {**answer.json(), "client_id": grant.client_id}


def call_tool(client: TestClient, token: str, name: str, arguments: dict[str, Any] | None = None) -> Any:
    """tools/call on the stateless /mcp with a bearer token: the raw HTTP answer."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}
    return client.post("/mcp", json=body, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}",
                                                    "MCP-Protocol-Version": "2025-11-25"})


def tool_result(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    text = answer.text
    if "application/json" not in answer.headers.get("content-type", ""):  # an event stream: its data line
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
    return dict(json.loads(text)["result"])
