"""The real HTTP server in a subprocess: bearer auth, RFC 9728 metadata, per-user isolation over streamable
HTTP and legacy SSE, the unauthenticated loopback mode, --stateless and --read-only."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import apsw
import httpx2 as httpx
import jwt
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from servers import Server, free_port, http_server, run_cli

from jarvis_mcp.config import Settings
from jarvis_mcp.tokens import issue_token

SECRET = "test-secret-" + "x" * 32
ISSUER = "https://issuer.test"
CALL_TIMEOUT_S = 30
PRM_PATH = "/.well-known/oauth-protected-resource/mcp"
# Streamable HTTP wants both; a bare POST is refused with 406 before auth would matter to a real client.
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}


# --- servers (one process per module each) -------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server() -> Iterator[Server]:
    """Secret only: dev tokens without iss/aud, as `jarvis-mcp token issue` makes them."""
    with http_server({"JARVIS_JWT_SECRET": SECRET}) as server:
        yield server


@pytest.fixture(scope="module")
def aud_server() -> Iterator[Server]:
    with http_server({
        "JARVIS_JWT_SECRET": SECRET,
        "JARVIS_JWT_AUDIENCE": "http://127.0.0.1:{port}/mcp",
        "JARVIS_JWT_ISSUER": ISSUER,
    }) as server:
        yield server


@pytest.fixture(scope="module")
def open_server() -> Iterator[Server]:
    with http_server({"JARVIS_USER": "dana"}, host=None) as server:  # the default host
        yield server


def _settings(server: Server, **extra: object) -> Settings:
    return Settings(home=server.home, jwt_secret=SECRET, **extra)  # type: ignore[arg-type]


def _token(server: Server, subject: str, **kw: object) -> str:
    return issue_token(_settings(server), subject=subject, **kw)  # type: ignore[arg-type]


def _aud_settings(server: Server) -> Settings:
    return _settings(server, jwt_audience=server.mcp_url, jwt_issuer=ISSUER)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(server: Server, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"sub": "mallory", "iat": now, "exp": now + 600, "aud": server.mcp_url, "iss": ISSUER}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def http_client(url: str, token: str | None = None) -> AsyncIterator[Client]:
    headers = _bearer(token) if token else {}
    with anyio.fail_after(CALL_TIMEOUT_S):
        async with (
            httpx.AsyncClient(headers=headers, timeout=CALL_TIMEOUT_S) as hc,
            Client(streamable_http_client(url, http_client=hc)) as client,
        ):
            yield client


@asynccontextmanager
async def sse(server: Server, token: str) -> AsyncIterator[Client]:
    with anyio.fail_after(CALL_TIMEOUT_S):
        # A legacy-SSE client predates the 2026 protocol: use the initialize handshake it would use.
        async with Client(sse_client(f"{server.base}/sse", headers=_bearer(token), timeout=10), mode="legacy") as c:
            yield c


async def _remember(client: Client, text: str) -> str:
    result = await client.call_tool("remember", {"text": text})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return str(result.structured_content["memory"]["id"])


async def _hit_ids(client: Client, query: str) -> list[str]:
    result = await client.call_tool("search_memory", {"query": query})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return [hit["id"] for hit in result.structured_content["hits"]]


def _identities(db: Path) -> list[tuple[str, str, str, str]]:
    """(issuer, subject, auth_method, user_id) as the server wrote them; read-only so we never interfere."""
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [tuple(r) for r in conn.execute("SELECT issuer, subject, auth_method, user_id FROM identities")]  # type: ignore[misc]
    finally:
        conn.close()


# --- 401 for every bad token ---------------------------------------------------------------------------


def _assert_401(server: Server, token: str | None) -> None:
    headers = MCP_HEADERS | (_bearer(token) if token is not None else {})
    r = httpx.post(server.mcp_url, json=INITIALIZE, headers=headers, timeout=10)
    assert r.status_code == 401, r.text
    challenge = r.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{server.base}{PRM_PATH}"' in challenge


REJECTED: dict[str, Callable[[Server], str | None]] = {
    "no-token": lambda s: None,
    "garbage": lambda s: "not-a-jwt",
    "expired": lambda s: jwt.encode(_claims(s, exp=int(time.time()) - 300), SECRET, algorithm="HS256"),
    "not-yet-valid": lambda s: jwt.encode(_claims(s, nbf=int(time.time()) + 300), SECRET, algorithm="HS256"),
    "wrong-signature": lambda s: jwt.encode(_claims(s), "another-secret-" + "y" * 32, algorithm="HS256"),
    "alg-none": lambda s: _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims(s)) + ".",
    "alg-none-with-signature": lambda s: (
        _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims(s)) + "." + jwt.encode(_claims(s), SECRET).split(".")[2]
    ),
    "wrong-audience": lambda s: jwt.encode(_claims(s, aud="http://127.0.0.1:1/mcp"), SECRET, algorithm="HS256"),
    "no-audience": lambda s: jwt.encode(_claims(s, aud=None), SECRET, algorithm="HS256"),
    "wrong-issuer": lambda s: jwt.encode(_claims(s, iss="https://evil.test"), SECRET, algorithm="HS256"),
    "no-issuer": lambda s: jwt.encode(_claims(s, iss=None), SECRET, algorithm="HS256"),
    "no-subject": lambda s: jwt.encode(_claims(s, sub=None), SECRET, algorithm="HS256"),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_bad_tokens_get_401_with_resource_metadata(aud_server: Server, case: str) -> None:
    _assert_401(aud_server, REJECTED[case](aud_server))


@pytest.mark.parametrize("case", ["no-token", "expired", "wrong-signature", "alg-none", "no-subject"])
def test_bad_tokens_get_401_on_the_secret_only_server(auth_server: Server, case: str) -> None:
    _assert_401(auth_server, REJECTED[case](auth_server))


def test_a_good_token_passes(aud_server: Server, auth_server: Server) -> None:
    """The control for the 401 cases: the same request with a valid token is answered."""
    for server, token in (
        (aud_server, issue_token(_aud_settings(aud_server), subject="erin")),
        (auth_server, _token(auth_server, "erin")),
    ):
        r = httpx.post(server.mcp_url, json=INITIALIZE, headers=MCP_HEADERS | _bearer(token), timeout=10)
        assert r.status_code == 200, r.text


def test_a_token_for_another_server_is_refused(aud_server: Server) -> None:
    other = Settings(home=aud_server.home, jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience="http://127.0.0.1:1/mcp")
    _assert_401(aud_server, issue_token(other, subject="erin"))


def test_protected_resource_metadata(aud_server: Server, auth_server: Server) -> None:
    for server in (aud_server, auth_server):
        r = httpx.get(server.base + PRM_PATH, timeout=10)
        assert r.status_code == 200
        assert r.json()["resource"] == server.mcp_url
        assert r.json()["bearer_methods_supported"] == ["header"]
    # the configured issuer is where a client is sent for a token
    assert httpx.get(aud_server.base + PRM_PATH, timeout=10).json()["authorization_servers"] == [ISSUER]


def test_healthz_needs_no_token(auth_server: Server) -> None:
    r = httpx.get(auth_server.base + "/healthz", timeout=10)
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_sse_endpoints_need_a_token(auth_server: Server) -> None:
    with httpx.Client(timeout=10) as hc:
        with hc.stream("GET", auth_server.base + "/sse") as r:
            assert r.status_code == 401
            assert "resource_metadata" in r.headers.get("www-authenticate", "")
        r = hc.post(auth_server.base + "/messages/?session_id=" + "0" * 32, json=INITIALIZE)
        assert r.status_code == 401


# --- users over streamable HTTP ------------------------------------------------------------------------


async def test_two_users_see_only_their_own_memories(auth_server: Server) -> None:
    alice, bob = _token(auth_server, "alice-h"), _token(auth_server, "bob-h")
    async with http_client(auth_server.mcp_url, alice) as a:
        memory_id = await _remember(a, "Alice keeps the spare key under the blue flowerpot")
        assert memory_id in await _hit_ids(a, "spare key flowerpot")
        await a.call_tool("set_profile", {"name": "Alice"})
    async with http_client(auth_server.mcp_url, bob) as b:
        assert await _hit_ids(b, "spare key flowerpot") == []
        with pytest.raises(MCPError):
            await b.read_resource(f"jarvis://me/memories/{memory_id}")
        profile = await b.call_tool("get_profile", {})
        assert profile.structured_content is not None and profile.structured_content["name"] is None
        forgot = await b.call_tool("forget", {"memory_ids": [memory_id]})
        assert not forgot.is_error
    async with http_client(auth_server.mcp_url, alice) as a:
        # the same token again is the same user, and bob's forget touched nothing
        assert memory_id in await _hit_ids(a, "spare key flowerpot")
        text = (await a.read_resource(f"jarvis://me/memories/{memory_id}")).contents[0]
        assert "blue flowerpot" in getattr(text, "text", "")
    async with http_client(auth_server.mcp_url, _token(auth_server, "alice-h")) as a:
        # a fresh token for the same subject is still the same user
        assert memory_id in await _hit_ids(a, "spare key flowerpot")


async def test_auth_method_is_recorded_on_the_identity(auth_server: Server) -> None:
    token = _token(auth_server, "tg-424242", auth_method="telegram")
    async with http_client(auth_server.mcp_url, token) as c:
        assert not (await c.call_tool("get_profile", {})).is_error
    rows = [r for r in _identities(auth_server.db_path) if r[1] == "tg-424242"]
    assert [(r[0], r[2]) for r in rows] == [("local", "telegram")]
    others = {r[3] for r in _identities(auth_server.db_path) if r[1] != "tg-424242"}
    assert rows[0][3] not in others


async def test_issuer_and_audience_tokens_work_end_to_end(aud_server: Server) -> None:
    token = issue_token(_aud_settings(aud_server), subject="frank", auth_method="google")
    async with http_client(aud_server.mcp_url, token) as c:
        memory_id = await _remember(c, "Frank prefers window seats on trains")
        assert memory_id in await _hit_ids(c, "window seats")
    assert ("https://issuer.test", "frank", "google") in [r[:3] for r in _identities(aud_server.db_path)]


# --- legacy SSE ---------------------------------------------------------------------------------------


async def test_sse_two_users_isolated(auth_server: Server) -> None:
    alice, bob = _token(auth_server, "alice-s"), _token(auth_server, "bob-s")
    async with sse(auth_server, alice) as a:
        assert "remember" in {t.name for t in (await a.list_tools()).tools}
        memory_id = await _remember(a, "Alice's locker code at the gym is on a yellow note")
        assert memory_id in await _hit_ids(a, "gym locker code")
    async with sse(auth_server, bob) as b:
        assert await _hit_ids(b, "gym locker code") == []
        with pytest.raises(MCPError):
            await b.read_resource(f"jarvis://me/memories/{memory_id}")
    async with sse(auth_server, alice) as a:
        assert memory_id in await _hit_ids(a, "gym locker code")
    # both transports resolve the same identity to the same user
    async with http_client(auth_server.mcp_url, alice) as a:
        assert memory_id in await _hit_ids(a, "gym locker code")


async def test_sse_refuses_a_bad_token(auth_server: Server) -> None:
    bad = jwt.encode(_claims(auth_server), "another-secret-" + "y" * 32, algorithm="HS256")
    with pytest.raises(httpx.HTTPStatusError) as caught:
        async with sse(auth_server, bad) as c:
            await c.list_tools()
    assert caught.value.response.status_code == 401


# --- without auth: loopback only, the local user -------------------------------------------------------


async def test_no_auth_serves_the_local_user(open_server: Server) -> None:
    async with http_client(open_server.mcp_url) as c:
        memory_id = await _remember(c, "Dana waters the ferns on Sundays")
    async with http_client(open_server.mcp_url) as c:
        assert memory_id in await _hit_ids(c, "ferns")
    assert [r[:3] for r in _identities(open_server.db_path)] == [("local", "dana", "local")]
    assert "loopback only" in open_server.stderr()


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses with a listening TCP socket on `port`, from the kernel's own table."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(addr))))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_no_auth_binds_loopback_by_default(open_server: Server) -> None:
    assert _listening_addresses(open_server.port) == {"127.0.0.1"}


def test_no_auth_has_no_protected_resource_metadata(open_server: Server) -> None:
    assert httpx.get(open_server.base + PRM_PATH, timeout=10).status_code == 404


def test_public_host_without_a_secret_is_refused(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_cli(
        ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())], home=tmp_path, timeout=30
    )
    assert done.returncode == 2
    assert "JARVIS_JWT_SECRET" in done.stderr and "0.0.0.0" in done.stderr
    assert done.stdout == ""
    assert time.monotonic() - started < 30
    assert not (tmp_path / "jarvis.db").exists()


def _session_header(server: Server) -> str | None:
    r = httpx.post(server.mcp_url, json=INITIALIZE, headers=MCP_HEADERS, timeout=10)
    assert r.status_code == 200, r.text
    return r.headers.get("mcp-session-id")


async def test_stateless(open_server: Server) -> None:
    assert _session_header(open_server)  # the control: the default keeps sessions
    with http_server(args=["--stateless"]) as server:
        assert _session_header(server) is None
        async with http_client(server.mcp_url) as c:
            memory_id = await _remember(c, "Stateless servers still remember")
        async with http_client(server.mcp_url) as c:
            assert memory_id in await _hit_ids(c, "stateless remember")
        async with (
            httpx.AsyncClient(timeout=CALL_TIMEOUT_S) as hc,
            Client(streamable_http_client(server.mcp_url, http_client=hc), mode="legacy") as c,
        ):
            assert memory_id in await _hit_ids(c, "stateless remember")


async def test_read_only_lists_only_read_only_tools(open_server: Server) -> None:
    async with http_client(open_server.mcp_url) as c:
        everything = {t.name: t for t in (await c.list_tools()).tools}
    with http_server(args=["--read-only"]) as server:
        async with http_client(server.mcp_url) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            result = await c.call_tool("remember", {"text": "should not be stored"})
            assert result.is_error
            assert await _hit_ids(c, "should not be stored") == []
    assert tools and "search_memory" in tools and "remember" not in tools
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())
    expected = {n for n, t in everything.items() if t.annotations and t.annotations.read_only_hint}
    assert set(tools) == expected
    assert len(tools) < len(everything)

