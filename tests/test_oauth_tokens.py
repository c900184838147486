"""Tokens of the built-in authorization server: refresh rotation with reuse detection, revocation (RFC 7009)
answered by 401 at once, scopes checked on every call, and nothing but hashes in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw
import pytest
from oauth_support import app_client, call_tool, settings, tokens_for, tool_result


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def client(home: Path, embedder: Any):
    with app_client(settings(home), embedder) as c:
        yield c


def refresh(client, tokens: dict[str, Any], token: str | None = None) -> Any:
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token or tokens["refresh_token"],
                                       "client_id": tokens["client_id"]})


def test_refresh_rotates_and_the_new_access_token_works(client) -> None:
    first = tokens_for(client, "rot@example.com")
    answer = refresh(client, first)
    assert answer.status_code == 200, answer.text
    second = answer.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert tool_result(call_tool(client, second["access_token"], "get_profile"))["isError"] is False


def test_a_reused_refresh_token_revokes_the_whole_family(client) -> None:
    first = tokens_for(client, "reuse@example.com")
    second = refresh(client, first).json()
    replay = refresh(client, first)  # the old one again: stolen, or a confused client
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # Everything of that sign-in is gone, the newest tokens included.
    assert call_tool(client, second["access_token"], "get_profile").status_code == 401
    assert refresh(client, first, second["refresh_token"]).status_code == 400


def test_revoked_access_token_gets_401_at_once(client) -> None:
    tokens = tokens_for(client, "rev@example.com")
    assert call_tool(client, tokens["access_token"], "get_profile").status_code == 200
    answer = client.post("/revoke", data={"token": tokens["access_token"], "client_id": tokens["client_id"]})
    assert answer.status_code == 200
    assert call_tool(client, tokens["access_token"], "get_profile").status_code == 401
    assert refresh(client, tokens).status_code == 400  # revoking one revokes its refresh token too


def test_revoking_the_refresh_token_ends_the_access_token_too(client) -> None:
    tokens = tokens_for(client, "rev2@example.com")
    client.post("/revoke", data={"token": tokens["refresh_token"], "client_id": tokens["client_id"],
                                 "token_type_hint": "refresh_token"})
    assert call_tool(client, tokens["access_token"], "get_profile").status_code == 401


def test_a_read_only_token_reads_but_cannot_write(client) -> None:
    tokens = tokens_for(client, "reader@example.com", scope="jarvis:read")
    assert tokens["scope"] == "jarvis:read"
    read = tool_result(call_tool(client, tokens["access_token"], "search_memory", {"query": "tea"}))
    assert read["isError"] is False
    write = tool_result(call_tool(client, tokens["access_token"], "remember", {"text": "should not be saved"}))
    assert write["isError"] is True
    assert "jarvis:write" in write["content"][0]["text"]
    # Nothing was written.
    found = tool_result(call_tool(client, tokens["access_token"], "search_memory", {"query": "saved"}))
    assert "should not be saved" not in str(found)


def test_a_write_token_may_read_and_write(client) -> None:
    tokens = tokens_for(client, "writer@example.com", scope="jarvis:write")
    assert tool_result(call_tool(client, tokens["access_token"], "remember", {"text": "writes ok"}))["isError"] is False
    assert tool_result(call_tool(client, tokens["access_token"], "get_profile"))["isError"] is False


def test_a_made_up_token_gets_401(client) -> None:
    assert call_tool(client, "jat_" + "x" * 43, "get_profile").status_code == 401


def test_the_store_keeps_only_hashes(client, home: Path) -> None:
    tokens = tokens_for(client, "hash@example.com")
    db = apsw.Connection(str(home / "jarvis.db"))
    dump = "\n".join(str(row) for table in ("oauth_tokens", "oauth_grants", "web_sessions", "sign_in_tokens")
                     for row in db.execute(f"SELECT * FROM {table}"))
    assert tokens["access_token"] not in dump
    assert tokens["refresh_token"] not in dump
    assert "jat_" not in dump and "jrt_" not in dump and "jss_" not in dump and "jml_" not in dump


def test_issue_and_revocation_are_audited(client, home: Path) -> None:
    tokens = tokens_for(client, "audit@example.com")
    client.post("/revoke", data={"token": tokens["access_token"], "client_id": tokens["client_id"]})
    client.app.state  # noqa: B018 (the app is still up: the audit buffer flushes on read)
    db = apsw.Connection(str(home / "jarvis.db"))
    import time
    for _ in range(40):
        events = [row[0] for row in db.execute("SELECT tool || ' ' || arguments FROM actions")]
        if any("oauth:token_revoked" in e for e in events):
            break
        time.sleep(0.05)
    text = "\n".join(events)
    assert "identity:sign_in" in text and '"method": "email"' in text
    assert "oauth:consent" in text
    assert "oauth:token_issued" in text
    assert "oauth:token_revoked" in text
    assert tokens["access_token"] not in text
