"""What the authorization server refuses, checked with a real sign-in in Chromium and raw OAuth requests:
a replayed code, a wrong PKCE verifier, a foreign redirect URI, a revoked token, a rotated refresh token,
and (with the development setting off) a Client ID Metadata Document on a private address."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from e2e_browser import Browser
from e2e_cimd import MetadataHost
from e2e_oauth import LoopbackCallback
from e2e_people import Person
from e2e_raw_oauth import RawClient, code_from, mcp_status, pkce
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from servers import Server


@pytest.fixture(scope="module")
def callback() -> Iterator[LoopbackCallback]:
    listener = LoopbackCallback()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def dora(browser: Browser, sign_in_server: Server) -> Iterator[Person]:
    """One person for the module: signed in by email once, her browser session approves later requests."""
    someone = Person(browser, sign_in_server, "dora.refusals@example.com")
    yield someone
    someone.close()


@pytest.fixture(scope="module")
def app(sign_in_server: Server, callback: LoopbackCallback) -> RawClient:
    return RawClient.register(sign_in_server.base, callback.redirect_uri)


def _code(dora: Person, app: RawClient, challenge: str) -> str:
    return code_from(dora.browser.run(dora.authorize_now, app.authorization_url(challenge), app.redirect_uri))


def test_a_code_works_once(dora: Person, app: RawClient, sign_in_server: Server) -> None:
    verifier, challenge = pkce()
    code = _code(dora, app, challenge)
    first = app.exchange(code, verifier)
    assert first.status_code == 200, first.text
    assert mcp_status(sign_in_server.mcp_url, first.json()["access_token"]) == 200

    replay = app.exchange(code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert "access_token" not in replay.json()


def test_a_wrong_pkce_verifier_gets_no_token(dora: Person, app: RawClient) -> None:
    verifier, challenge = pkce()
    code = _code(dora, app, challenge)
    wrong, _ = pkce()
    answer = app.exchange(code, wrong)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert "access_token" not in answer.json()


@pytest.mark.parametrize("foreign", [
    "https://attacker.example/callback",
    "http://127.0.0.1:1/elsewhere",  # loopback, but not the registered path
    "http://localhost.attacker.example/callback",
])
def test_a_foreign_redirect_uri_is_refused_without_redirecting(app: RawClient, foreign: str) -> None:
    _, challenge = pkce()
    answer = httpx.get(app.authorization_url(challenge, redirect_uri=foreign), timeout=10)
    assert answer.status_code == 400
    assert "location" not in answer.headers  # never sent anywhere: no open redirect
    assert "redirect_uri" in answer.text


def test_a_loopback_redirect_on_another_port_is_accepted(app: RawClient) -> None:
    """RFC 8252 §7.3: a native app's loopback redirect URI may use any port, the rest matched exactly."""
    _, challenge = pkce()
    other_port = urlsplit(app.redirect_uri)._replace(netloc="127.0.0.1:1").geturl()
    answer = httpx.get(app.authorization_url(challenge, redirect_uri=other_port), timeout=10)
    assert answer.status_code in (302, 303), answer.text
    assert answer.headers["location"].startswith(app.metadata["issuer"].rstrip("/") + "/consent")


def test_a_revoked_token_gets_401(dora: Person, app: RawClient, sign_in_server: Server) -> None:
    verifier, challenge = pkce()
    tokens = app.exchange(_code(dora, app, challenge), verifier).json()
    assert mcp_status(sign_in_server.mcp_url, tokens["access_token"]) == 200

    assert app.revoke(tokens["access_token"]).status_code == 200
    assert mcp_status(sign_in_server.mcp_url, tokens["access_token"]) == 401
    # Revocation ends the whole sign-in: the refresh token of the same grant is dead too.
    assert app.refresh(tokens["refresh_token"]).status_code == 400


def test_a_refresh_rotates_and_a_rotated_refresh_token_is_refused(
    dora: Person, app: RawClient, sign_in_server: Server,
) -> None:
    verifier, challenge = pkce()
    first = app.exchange(_code(dora, app, challenge), verifier).json()
    refreshed = app.refresh(first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert mcp_status(sign_in_server.mcp_url, second["access_token"]) == 200

    # The old refresh token came back: whoever holds it may have stolen it, so the sign-in ends.
    assert app.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"
    assert mcp_status(sign_in_server.mcp_url, second["access_token"]) == 401


@pytest.fixture(scope="module")
def strict_server(start_server: Callable[..., Server]) -> Server:
    """The production default: Client ID Metadata Documents only from public https addresses."""
    return start_server(JARVIS_OAUTH_ALLOW_LOOPBACK_CLIENT_METADATA="false")


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "10.0.0.7", "169.254.169.254",
                                  "192.168.1.20:8443", "[::1]:{port}"])
def test_a_client_metadata_url_on_a_private_address_is_refused(
    strict_server: Server, cimd_host: MetadataHost, callback: LoopbackCallback, host: str,
) -> None:
    path = f"/clients/strict-{len(cimd_host.documents)}.json"
    client_id = cimd_host.publish(path, [callback.redirect_uri])
    client_id = client_id.replace(f"127.0.0.1:{cimd_host.port}", host.format(port=cimd_host.port))
    _, challenge = pkce()
    query = httpx.QueryParams({
        "response_type": "code", "client_id": client_id, "redirect_uri": callback.redirect_uri, "state": "s",
        "code_challenge": challenge, "code_challenge_method": "S256", "resource": strict_server.mcp_url})
    answer = httpx.get(f"{strict_server.base}/authorize?{query}", timeout=10)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "resolves to a private or reserved address" in answer.text
    assert path not in cimd_host.fetches  # refused before any connection was made


async def test_a_read_only_grant_reads_but_cannot_write(dora: Person, app: RawClient, sign_in_server: Server) -> None:
    verifier, challenge = pkce()
    redirected = await dora.browser.arun(dora.authorize_now, app.authorization_url(challenge, scope="jarvis:read"),
                                         app.redirect_uri)
    tokens = app.exchange(code_from(redirected), verifier).json()
    assert tokens["scope"] == "jarvis:read"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with (
        httpx.AsyncClient(headers=bearer, timeout=30) as http,
        Client(streamable_http_client(sign_in_server.mcp_url, http_client=http)) as client,
    ):
        assert not (await client.call_tool("search_memory", {"query": "anything at all"})).is_error
        refused = await client.call_tool("remember", {"text": "Dora should not be able to write this"})
        assert refused.is_error
        assert "jarvis:write" in str(refused.content)


def test_denying_on_the_consent_page_sends_back_no_code(dora: Person, app: RawClient) -> None:
    _, challenge = pkce()
    redirected = dora.browser.run(partial(dora.authorize_now, decision="deny"),
                                  app.authorization_url(challenge, state="st-deny"), app.redirect_uri)
    params = parse_qs(urlsplit(redirected).query)
    assert params["error"] == ["access_denied"] and params["state"] == ["st-deny"]
    assert "code" not in params
    assert params["iss"] == [app.metadata["issuer"].rstrip("/")]
