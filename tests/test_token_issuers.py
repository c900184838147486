"""Issue 15, finding 1: the key that verified a token decides its issuer, and an email links a sign-in to an
existing user only when the token says it is verified and its issuer is trusted for that.

The reported attack: with JARVIS_JWKS_URL and no JARVIS_JWT_ISSUER, a provider token with no `iss`, no
`email_verified` and Alice's email signed in as Alice. That configuration now refuses to start
(test_config.py and below); these tests run the same tokens against the real server in the configurations
that do start."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import apsw
import httpx2 as httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.provider import AccessToken
from servers import Server, free_port, http_server, run_cli

from jarvis_mcp.config import Settings
from jarvis_mcp.tokens import JwtVerifier, identity_from_access_token, issue_token

SECRET = "issuer-test-secret-" + "x" * 32
ISSUER = "https://idp.test"
ALICE_EMAIL = "alice@corp.example"
ALICE_FACT = "Alice keeps the office safe combination on a blue card"
CALL_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """An identity provider's JWKS document, served over HTTP to the server under test."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = json.dumps({"keys": [RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "r1", "alg": "RS256"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key
    finally:
        server.shutdown()
        server.server_close()


def _env(jwks_url: str, **extra: str) -> dict[str, str]:
    return {"JARVIS_JWKS_URL": jwks_url, "JARVIS_JWT_SECRET": SECRET,
            "JARVIS_JWT_AUDIENCE": "http://127.0.0.1:{port}/mcp", "JARVIS_JWT_ISSUER": ISSUER, **extra}


@pytest.fixture(scope="module")
def idp_server(idp: tuple[str, rsa.RSAPrivateKey]) -> Iterator[Server]:
    """A provider and the server's own secret side by side; the provider is not trusted for email links."""
    with http_server(_env(idp[0])) as server:
        yield server


@pytest.fixture(scope="module")
def trusting_server(idp: tuple[str, rsa.RSAPrivateKey]) -> Iterator[Server]:
    with http_server(_env(idp[0], JARVIS_EMAIL_LINK_ISSUERS=ISSUER)) as server:
        yield server


def _provider_token(key: rsa.RSAPrivateKey, server: Server, **claims: object) -> str:
    """Signed by the provider's key; a claim given as None is left out."""
    payload = {"aud": server.mcp_url, "exp": int(time.time()) + 600, "iss": ISSUER} | claims
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm="RS256",
                      headers={"kid": "r1"})


def _dev_token(server: Server, jwks_url: str, subject: str, **kw: object) -> str:
    """What `jarvis-mcp token issue` prints on that server (it writes iss = JARVIS_JWT_ISSUER)."""
    s = Settings(home=server.home, jwt_secret=SECRET, jwks_url=jwks_url, jwt_issuer=ISSUER,  # type: ignore[arg-type]
                 jwt_audience=server.mcp_url)
    return issue_token(s, subject=subject, **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def _client(server: Server, token: str) -> AsyncIterator[Client]:
    with anyio.fail_after(CALL_TIMEOUT_S):
        async with (
            httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=CALL_TIMEOUT_S) as hc,
            Client(streamable_http_client(server.mcp_url, http_client=hc)) as client,
        ):
            yield client


async def _remember(server: Server, token: str, text: str) -> str:
    async with _client(server, token) as c:
        result = await c.call_tool("remember", {"text": text})
        assert not result.is_error and result.structured_content is not None, result.content
        return str(result.structured_content["memory"]["id"])


async def _found(server: Server, token: str, query: str) -> list[str]:
    async with _client(server, token) as c:
        result = await c.call_tool("search_memory", {"query": query})
        assert not result.is_error and result.structured_content is not None, result.content
        return [hit["id"] for hit in result.structured_content["hits"]]


def _user_of(server: Server, issuer: str, subject: str) -> str | None:
    conn = apsw.Connection(str(server.db_path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        rows = list(conn.execute("SELECT user_id FROM identities WHERE issuer = ? AND subject = ?", (issuer, subject)))
    finally:
        conn.close()
    return str(rows[0][0]) if rows else None


def _status(server: Server, token: str) -> int:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"}
    return httpx.post(server.mcp_url, json=initialize, headers=headers, timeout=10).status_code


# --- end to end -----------------------------------------------------------------------------------------


def test_the_reported_configuration_refuses_to_start(idp: tuple[str, rsa.RSAPrivateKey], tmp_path: Path) -> None:
    env = {k: v for k, v in _env(idp[0]).items() if k != "JARVIS_JWT_ISSUER"}
    env["JARVIS_JWT_AUDIENCE"] = "http://127.0.0.1:1/mcp"
    done = run_cli(["serve", "--transport", "http", "--port", str(free_port())], home=tmp_path / "home",
                   env=env, stdin="", timeout=30)
    assert done.returncode == 2, done.stderr
    assert "JARVIS_JWT_ISSUER" in done.stderr and "Traceback" not in done.stderr


async def test_unverified_email_claims_never_reach_alice(idp_server: Server, idp: tuple[str, rsa.RSAPrivateKey]) -> None:
    jwks_url, key = idp
    alice = _dev_token(idp_server, jwks_url, "alice", email=ALICE_EMAIL)
    memory_id = await _remember(idp_server, alice, ALICE_FACT)
    assert memory_id in await _found(idp_server, alice, "safe combination")
    # The reported token, exactly: no iss, no email_verified.
    reported = _provider_token(key, idp_server, sub="mallory", email=ALICE_EMAIL, iss=None)
    assert _status(idp_server, reported) == 401
    # The provider's issuer, but the email not said to be verified; then said verified, but by a provider
    # not trusted for email links (JARVIS_EMAIL_LINK_ISSUERS unset).
    for sub, verified in (("mallory", None), ("mallory2", True)):
        token = _provider_token(key, idp_server, sub=sub, email=ALICE_EMAIL, email_verified=verified)
        assert await _found(idp_server, token, "safe combination") == []
        assert _user_of(idp_server, ISSUER, sub) not in (None, _user_of(idp_server, "local", "alice"))


async def test_a_provider_sub_is_not_the_local_user_of_that_name(
    idp_server: Server, idp: tuple[str, rsa.RSAPrivateKey],
) -> None:
    jwks_url, key = idp
    local_bob = _dev_token(idp_server, jwks_url, "bob")
    memory_id = await _remember(idp_server, local_bob, "Bob's bike lock code is written under the saddle")
    # The dev token carries iss = JARVIS_JWT_ISSUER, as the provider's does: the key tells them apart.
    provider_bob = _provider_token(key, idp_server, sub="bob")
    assert memory_id not in await _found(idp_server, provider_bob, "bike lock code")
    local_user, provider_user = _user_of(idp_server, "local", "bob"), _user_of(idp_server, ISSUER, "bob")
    assert local_user and provider_user and local_user != provider_user


async def test_a_trusted_provider_links_by_verified_email_only(
    trusting_server: Server, idp: tuple[str, rsa.RSAPrivateKey],
) -> None:
    jwks_url, key = idp
    alice = _dev_token(trusting_server, jwks_url, "alice", email=ALICE_EMAIL)
    memory_id = await _remember(trusting_server, alice, ALICE_FACT)
    unverified = _provider_token(key, trusting_server, sub="mallory", email=ALICE_EMAIL)
    assert await _found(trusting_server, unverified, "safe combination") == []
    verified = _provider_token(key, trusting_server, sub="google-oauth2|1234", email=ALICE_EMAIL, email_verified=True)
    assert memory_id in await _found(trusting_server, verified, "safe combination")
    assert _user_of(trusting_server, ISSUER, "google-oauth2|1234") == _user_of(trusting_server, "local", "alice")


# --- the verifier ---------------------------------------------------------------------------------------


@pytest.fixture
def both(tmp_path: Path, idp: tuple[str, rsa.RSAPrivateKey]) -> Settings:
    return Settings(home=tmp_path, jwks_url=idp[0], jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience="aud")


def _signed(key: rsa.RSAPrivateKey, **claims: object) -> str:
    payload = {"sub": "alice", "aud": "aud", "exp": int(time.time()) + 600, "iss": ISSUER} | claims
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "r1"})


def test_the_verifier_refuses_a_provider_without_an_issuer(both: Settings) -> None:
    unchecked = both.model_copy(update={"jwt_issuer": None})  # as if validation had been bypassed
    with pytest.raises(ValueError, match="JARVIS_JWT_ISSUER"):
        JwtVerifier(unchecked)


def test_an_access_token_from_elsewhere_proves_no_issuer(both: Settings) -> None:
    plain = AccessToken(token="t", client_id="alice", scopes=[], subject="alice",
                        claims={"email": ALICE_EMAIL, "email_verified": True})
    with pytest.raises(ValueError):
        identity_from_access_token(plain, both)


async def test_claims_cannot_choose_the_verifier(both: Settings, idp: tuple[str, rsa.RSAPrivateKey]) -> None:
    forged = _signed(idp[1], verified_by="local", issuer="local", email=ALICE_EMAIL, email_verified=True)
    access = await JwtVerifier(both).verify_token(forged)
    assert access is not None
    who = identity_from_access_token(access, both)
    assert (who.issuer, who.email) == (ISSUER, None)
    trusting = both.model_copy(update={"email_link_issuers": [ISSUER]})
    assert identity_from_access_token(access, trusting).email == ALICE_EMAIL


async def test_local_tokens_next_to_a_provider(both: Settings) -> None:
    access = await JwtVerifier(both).verify_token(issue_token(both, subject="alice", email=ALICE_EMAIL))
    assert access is not None
    # The SDK binds sessions to claims["iss"]: it sees the derived issuer, not the provider's name.
    assert access.claims is not None and access.claims["iss"] == "local"
    who = identity_from_access_token(access, both)
    assert (who.issuer, who.subject, who.email) == ("local", "alice", ALICE_EMAIL)


@pytest.mark.parametrize(
    ("settings", "claims", "issuer"),
    [
        pytest.param({}, {}, "local", id="secret-only"),
        pytest.param({"jwt_issuer": "https://me"}, {"iss": "https://me"}, "https://me", id="secret-with-issuer"),
        pytest.param({}, {"iss": "https://minted.elsewhere"}, "https://minted.elsewhere", id="secret-signed-iss"),
    ],
)
async def test_secret_only_installs_keep_their_identities(
    tmp_path: Path, settings: dict[str, str], claims: dict[str, str], issuer: str,
) -> None:
    s = Settings(home=tmp_path, jwt_secret=SECRET, jwt_audience="aud", **settings)  # type: ignore[arg-type]
    token = jwt.encode({"sub": "alice", "aud": "aud", "exp": int(time.time()) + 600} | claims, SECRET)
    access = await JwtVerifier(s).verify_token(token)
    assert access is not None and identity_from_access_token(access, s).issuer == issuer
