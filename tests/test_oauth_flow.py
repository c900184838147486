"""The authorization server end to end, in process: metadata, a DCR client's code flow with PKCE, tools
called with the token, and the refusals (replayed code, wrong verifier, foreign redirect URI, bad resource)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from oauth_support import (
    BASE,
    RESOURCE,
    Grant,
    app_client,
    authorize,
    authorize_url,
    call_tool,
    exchange,
    pkce,
    register,
    settings,
    tokens_for,
    tool_result,
)


@pytest.fixture
def client(tmp_path: Path, embedder: Any):
    with app_client(settings(tmp_path / "home"), embedder) as c:
        yield c


def test_metadata_names_this_server_as_its_own_authorization_server(client) -> None:
    prm = client.get("/.well-known/oauth-protected-resource/mcp").json()
    assert prm["resource"] == RESOURCE
    assert prm["authorization_servers"] == [BASE]
    meta = client.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == BASE
    assert meta["authorization_endpoint"] == f"{BASE}/authorize"
    assert meta["token_endpoint"] == f"{BASE}/token"
    assert meta["registration_endpoint"] == f"{BASE}/register"
    assert meta["revocation_endpoint"] == f"{BASE}/revoke"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["client_id_metadata_document_supported"] is True
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert set(meta["scopes_supported"]) == {"jarvis:read", "jarvis:write"}
    assert "none" in meta["token_endpoint_auth_methods_supported"]


def test_without_a_token_mcp_answers_401_pointing_at_the_metadata(client) -> None:
    answer = call_tool(client, "", "get_profile")
    assert answer.status_code == 401
    assert "oauth-protected-resource/mcp" in answer.headers["www-authenticate"]


def test_code_flow_with_pkce_signs_the_person_in_and_tools_run_as_them(client) -> None:
    tokens = tokens_for(client, "ana@example.com")
    assert tokens["token_type"].lower() == "bearer"
    assert 0 < tokens["expires_in"] <= 900  # minutes, not hours
    assert tokens["refresh_token"]
    saved = tool_result(call_tool(client, tokens["access_token"], "remember", {"text": "Ana likes green tea"}))
    assert not saved.get("isError"), saved
    found = tool_result(call_tool(client, tokens["access_token"], "list_identities"))
    listed = found["structuredContent"]["identities"]
    assert [i["method"] for i in listed] == ["email"]
    assert listed[0]["subject"] == "a**@example.com"


def test_authorization_response_carries_iss_and_state(client) -> None:
    verifier, challenge = pkce()
    grant = Grant(register(client), verifier)
    query = authorize(client, grant, challenge, address="iss@example.com")
    assert query["iss"] == [BASE]
    assert query["state"] == [grant.state]


def test_deny_sends_access_denied_back(client) -> None:
    verifier, challenge = pkce()
    grant = Grant(register(client), verifier)
    query = authorize(client, grant, challenge, address="no@example.com", decision="deny")
    assert query["error"] == ["access_denied"]
    assert "code" not in query


def test_a_code_is_used_once(client) -> None:
    verifier, challenge = pkce()
    grant = Grant(register(client), verifier)
    code = authorize(client, grant, challenge, address="once@example.com")["code"][0]
    assert exchange(client, grant, code).status_code == 200
    replay = exchange(client, grant, code)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_a_wrong_pkce_verifier_is_refused(client) -> None:
    verifier, challenge = pkce()
    grant = Grant(register(client), verifier)
    code = authorize(client, grant, challenge, address="pkce@example.com")["code"][0]
    wrong = exchange(client, grant, code, verifier=pkce()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    # The right verifier still works afterwards: a wrong guess does not burn the code for its owner.
    assert exchange(client, grant, code).status_code == 200


def test_a_foreign_redirect_uri_gets_an_error_page_never_a_redirect(client) -> None:
    verifier, challenge = pkce()
    grant = Grant(register(client), verifier, redirect="https://evil.example/steal")
    grant.client_id = register(client)  # registered for the loopback callback, not evil.example
    answer = client.get(authorize_url(grant, challenge))
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "text/html" in answer.headers["content-type"]
    assert "not one the client registered" in answer.text


def test_an_unknown_client_gets_an_error_page(client) -> None:
    verifier, challenge = pkce()
    answer = client.get(authorize_url(Grant("no-such-client", verifier), challenge))
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "not registered" in answer.text


def test_loopback_redirect_may_use_any_port(client) -> None:
    verifier, challenge = pkce()
    client_id = register(client, redirect="http://127.0.0.1/callback")
    grant = Grant(client_id, verifier, redirect="http://127.0.0.1:53124/callback")
    query = authorize(client, grant, challenge, address="native@example.com")
    assert exchange(client, grant, query["code"][0]).status_code == 200
    # ... but not another path on it.
    other = Grant(client_id, verifier, redirect="http://127.0.0.1:53124/elsewhere")
    assert client.get(authorize_url(other, challenge)).status_code == 400


def test_a_token_for_another_resource_is_not_issued(client) -> None:
    verifier, challenge = pkce()
    grant = Grant(register(client), verifier)
    url = authorize_url(grant, challenge, resource="https://other.example/mcp")
    answer = client.get(url)
    # The redirect URI is trusted by now, so the error goes back to the client, as OAuth says.
    assert answer.status_code == 302
    assert "error=invalid_target" in answer.headers["location"]
    assert "iss=http" in answer.headers["location"]  # RFC 9207 on error responses too


def test_scopes_not_ours_are_ignored_and_ours_are_granted_as_asked(client) -> None:
    verifier, challenge = pkce()
    grant = Grant(register(client, scope="openid offline_access jarvis:read jarvis:write"), verifier)
    query = authorize(client, grant, challenge, address="scopes@example.com", scope="openid offline_access jarvis:read")
    tokens = exchange(client, grant, query["code"][0]).json()
    assert tokens["scope"] == "jarvis:read"


def test_a_scope_the_client_did_not_register_is_refused(client) -> None:
    verifier, challenge = pkce()
    grant = Grant(register(client, scope="jarvis:read"), verifier)
    answer = client.get(authorize_url(grant, challenge, scope="jarvis:write"))
    assert answer.status_code == 302
    assert "error=invalid_scope" in answer.headers["location"] and "iss=" in answer.headers["location"]


def test_sign_in_needs_an_https_public_url_beyond_loopback(tmp_path: Path) -> None:
    from jarvis_mcp.config import ConfigError
    from jarvis_mcp.web import check_binding

    with pytest.raises(ConfigError, match="JARVIS_PUBLIC_URL"):
        check_binding(settings(tmp_path, public_url=None), "0.0.0.0")
    with pytest.raises(ConfigError, match="https"):
        check_binding(settings(tmp_path, public_url="http://jarvis.example.com/mcp"), "0.0.0.0")
    check_binding(settings(tmp_path, public_url="https://jarvis.example.com/mcp"), "0.0.0.0")
    check_binding(settings(tmp_path, public_url=None), "127.0.0.1")


def test_a_token_request_for_another_resource_is_refused(client) -> None:
    verifier, challenge = pkce()
    grant = Grant(register(client), verifier)
    code = authorize(client, grant, challenge, address="target@example.com")["code"][0]
    answer = client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": grant.redirect, "client_id": grant.client_id,
                                         "code_verifier": verifier, "resource": "https://other.example/mcp"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_target"
    same = client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": grant.redirect, "client_id": grant.client_id,
                                       "code_verifier": verifier, "resource": RESOURCE})
    assert same.status_code == 200, same.text
