"""OAuth by hand, for what a well-behaved SDK never sends: a replayed code, a wrong PKCE verifier, a foreign
redirect URI, a revoked or rotated token. Endpoints come from the server's own RFC 8414 metadata."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2 as httpx

TIMEOUT_S = 10.0


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class RawClient:
    """A registered public client, and the server's endpoints as its metadata names them."""

    resource: str
    metadata: dict[str, str]
    client_id: str
    redirect_uri: str

    @classmethod
    def register(cls, base: str, redirect_uri: str, *, name: str = "JARVIS e2e (raw)") -> RawClient:
        resource = f"{base}/mcp"
        prm = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp", timeout=TIMEOUT_S).json()
        issuer = prm["authorization_servers"][0].rstrip("/")
        metadata = httpx.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=TIMEOUT_S).json()
        answer = httpx.post(metadata["registration_endpoint"], timeout=TIMEOUT_S, json={
            "client_name": name, "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]})
        assert answer.status_code == 201, answer.text
        return cls(resource, metadata, answer.json()["client_id"], redirect_uri)

    def authorization_url(self, challenge: str, *, state: str = "st-1", redirect_uri: str | None = None,
                          client_id: str | None = None, scope: str = "jarvis:read jarvis:write") -> str:
        query = {"response_type": "code", "client_id": client_id or self.client_id,
                 "redirect_uri": redirect_uri or self.redirect_uri, "state": state, "code_challenge": challenge,
                 "code_challenge_method": "S256", "resource": self.resource, "scope": scope}
        return f"{self.metadata['authorization_endpoint']}?{urlencode(query)}"

    def exchange(self, code: str, verifier: str) -> httpx.Response:
        return httpx.post(self.metadata["token_endpoint"], timeout=TIMEOUT_S, data={
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": self.redirect_uri, "client_id": self.client_id, "resource": self.resource})

    def refresh(self, refresh_token: str) -> httpx.Response:
        return httpx.post(self.metadata["token_endpoint"], timeout=TIMEOUT_S, data={
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id,
            "resource": self.resource})

    def revoke(self, token: str) -> httpx.Response:
        return httpx.post(self.metadata["revocation_endpoint"], timeout=TIMEOUT_S,
                          data={"token": token, "client_id": self.client_id})


def code_from(redirected_to: str) -> str:
    params = parse_qs(urlsplit(redirected_to).query)
    assert "code" in params, f"no code in the redirect: {redirected_to}"
    return params["code"][0]


def mcp_status(mcp_url: str, access_token: str) -> int:
    """The HTTP status of one MCP request (initialize) carrying this bearer token."""
    answer = httpx.post(mcp_url, timeout=TIMEOUT_S, headers={
        "Authorization": f"Bearer {access_token}", "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json", "MCP-Protocol-Version": "2025-11-25"},
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "jarvis-e2e", "version": "0"}}})
    return answer.status_code
