"""confirm_action through URL-mode elicitation: an SDK client that declares it (legacy era, 2025-11-25) is sent
to /app/approvals/<id>; its callback "opens" the page by approving over HTTP, and the call answers with the
action carried out. Declining rejects; no decision in time answers "approval pending". On 2026-07-28 (no
mid-call request) the same client gets the yes/no form dialog instead."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import pytest
from mcp import Client, types
from oauth_support import BASE, csrf, settings
from starlette.testclient import TestClient

from jarvis_mcp.actions import out_of_band
from jarvis_mcp.identity.proofs import ProvenIdentity
from jarvis_mcp.identity.service import SignInService
from jarvis_mcp.runtime import Runtime
from jarvis_mcp.server import JarvisServer, build_server
from jarvis_mcp.web import http_app

PHRASE = "the blue tree sings at night"
Callback = Callable[[Any, types.ElicitRequestParams], Awaitable[types.ElicitResult]]


@dataclass
class Served:
    mcp: JarvisServer
    browser: TestClient
    runtime: Runtime
    user_id: str


@pytest.fixture
def served(tmp_path: Path, embedder: Any) -> Iterator[Served]:
    # The in-process client is the configured local user; the browser is that same person, signed in.
    mcp = build_server(settings(tmp_path / "home", sign_in=["email"], always_confirm=["send_email"]), embedder=embedder)
    app = http_app(mcp, host="127.0.0.1", stateless=True)
    with TestClient(app, base_url=BASE, follow_redirects=False) as browser:
        runtime = mcp.shared.runtime
        user_id = runtime.local_user_id()
        signed = SignInService(runtime.store).sign_in(ProvenIdentity("local", runtime.settings.user, "local"), None)
        assert signed.user_id == user_id
        browser.cookies.set("jarvis_session", signed.session)
        runtime.scope_for(user_id).voice_key.set(PHRASE)
        yield Served(mcp, browser, runtime, user_id)


def opening_the_page(served: Served, decision: str, asked: list[types.ElicitRequestParams],
                     answer: str = "accept") -> Callback:
    """The client's URL handler: the person opens the page and decides there (or does nothing)."""

    def decide(url: str) -> None:
        path = urlsplit(url).path
        page = served.browser.get(path)
        assert page.status_code == 200, page.text
        if decision == "nothing":
            return
        done = served.browser.post(f"{path}/{decision}", data={"csrf_token": csrf(page.text), "phrase": PHRASE})
        assert done.status_code == 200, done.text

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        if isinstance(params, types.ElicitRequestURLParams) and answer == "accept":
            await anyio.to_thread.run_sync(decide, params.url)
        return types.ElicitResult(action=answer, content=None if answer != "accept" or params.mode == "url"  # type: ignore[arg-type]
                                  else {"confirm": True})

    return callback


async def pending_email(client: Client) -> str:
    sent = await client.call_tool("send_email", {"to": ["ana@example.com"], "subject": "Hola", "body": "Nos vemos."})
    assert sent.structured_content and sent.structured_content["status"] == "pending_confirmation", sent
    return str(sent.structured_content["action_id"])


async def confirm(client: Client, action_id: str) -> dict[str, Any]:
    answer = await client.call_tool("confirm_action", {"action_id": action_id})
    assert not answer.is_error, answer.content
    assert answer.structured_content is not None
    return answer.structured_content


async def test_the_client_opens_the_page_and_the_action_runs_when_approved_there(served: Served) -> None:
    asked: list[types.ElicitRequestParams] = []
    async with Client(served.mcp, mode="legacy", elicitation_callback=opening_the_page(served, "approve", asked)) as c:
        action_id = await pending_email(c)
        done = await confirm(c, action_id)
    assert done["status"] == "not_delivered" and done["provider"] == "outbox"
    assert len(asked) == 1 and isinstance(asked[0], types.ElicitRequestURLParams)
    assert asked[0].url == f"{BASE}/app/approvals/{action_id}"
    assert "voice key" in asked[0].message  # the key is typed on the page, never into the client
    assert served.runtime.scope_for(served.user_id).actions.get(action_id).status == "not_delivered"


async def test_rejected_on_the_page_nothing_is_sent(served: Served) -> None:
    asked: list[types.ElicitRequestParams] = []
    async with Client(served.mcp, mode="legacy", elicitation_callback=opening_the_page(served, "reject", asked)) as c:
        action_id = await pending_email(c)
        assert (await confirm(c, action_id))["status"] == "cancelled"


async def test_declining_the_page_rejects_the_action(served: Served) -> None:
    asked: list[types.ElicitRequestParams] = []
    callback = opening_the_page(served, "approve", asked, answer="decline")
    async with Client(served.mcp, mode="legacy", elicitation_callback=callback) as c:
        action_id = await pending_email(c)
        assert (await confirm(c, action_id))["status"] == "cancelled"
    assert len(asked) == 1


async def test_no_decision_in_time_answers_approval_pending(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(out_of_band, "APPROVAL_WAIT_S", 0.5)
    asked: list[types.ElicitRequestParams] = []
    async with Client(served.mcp, mode="legacy", elicitation_callback=opening_the_page(served, "nothing", asked)) as c:
        action_id = await pending_email(c)
        waiting = await confirm(c, action_id)
        assert waiting["status"] == "pending_confirmation"
        assert "Approval pending" in waiting["how_to_confirm"] and "get_action" in waiting["how_to_confirm"]
        assert f"/app/approvals/{action_id}" in waiting["how_to_confirm"]
        # The person approves later; get_action shows it carried out.
        served.browser.post(f"/app/approvals/{action_id}/approve", data={
            "csrf_token": csrf(served.browser.get(f"/app/approvals/{action_id}").text), "phrase": PHRASE})
        got = await c.call_tool("get_action", {"action_id": action_id})
        assert got.structured_content and got.structured_content["status"] == "not_delivered"


async def test_on_2026_07_28_the_same_client_gets_the_form_dialog(served: Served) -> None:
    asked: list[types.ElicitRequestParams] = []
    async with Client(served.mcp, elicitation_callback=opening_the_page(served, "approve", asked)) as c:
        action_id = await pending_email(c)
        done = await confirm(c, action_id)
    assert done["status"] == "not_delivered"
    assert len(asked) == 1 and isinstance(asked[0], types.ElicitRequestFormParams)


async def test_another_users_action_gets_no_page(served: Served, embedder: Any, tmp_path: Path) -> None:
    # Bob, a stdio user of the same store, names the local user's pending action: not found, no URL sent.
    asked: list[types.ElicitRequestParams] = []
    async with Client(served.mcp, mode="legacy", elicitation_callback=opening_the_page(served, "approve", asked)) as c:
        action_id = await pending_email(c)
    bob_server = build_server(served.runtime.settings.model_copy(update={"user": "bob"}), embedder=embedder)
    async with Client(bob_server, mode="legacy", elicitation_callback=opening_the_page(served, "approve", asked)) as bob:
        answer = await bob.call_tool("confirm_action", {"action_id": action_id})
        assert answer.is_error and "not found" in str(answer.content)
    assert asked == []
    assert served.runtime.scope_for(served.user_id).actions.get(action_id).status == "pending_confirmation"
