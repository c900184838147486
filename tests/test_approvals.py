"""/app/approvals: a pending action shown as sealed (escaped) data, approved with the voice key (the same check
and lockout as confirm_action) or rejected; a recent sign-in to approve; CSRF; another person's action is
a 404 like a missing one."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from oauth_support import BASE, csrf, settings, sign_in_by_email
from starlette.testclient import TestClient

from jarvis_mcp.actions.voice_key import LOCK_AFTER, VoiceKeyError
from jarvis_mcp.events import Change
from jarvis_mcp.identity.service import SignInService
from jarvis_mcp.runtime import Runtime
from jarvis_mcp.server import build_server
from jarvis_mcp.web import http_app
from jarvis_mcp.webapp import approvals as approvals_module

# Spanish with accents, typed back without them: the same folding as confirm_action.
PHRASE = "El árbol azul canta de noche"
TYPED = "el arbol azul canta de noche"
WRONG = "the red tree sings at dawn"


@dataclass
class Served:
    client: TestClient
    runtime: Runtime
    changes: list[Change]


@pytest.fixture
def served(tmp_path: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    mcp = build_server(settings(tmp_path / "home", sign_in=["email"], always_confirm=["send_email"]), embedder=embedder)
    app = http_app(mcp, host="127.0.0.1", stateless=True)
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        runtime = mcp.shared.runtime
        changes: list[Change] = []
        monkeypatch.setattr(runtime.changes, "publish", changes.append)
        yield Served(client, runtime, changes)


def sign_in(served: Served, address: str) -> str:
    served.client.cookies.clear()
    assert sign_in_by_email(served.client, address, "/app/approvals").status_code == 303
    session = SignInService(served.runtime.store).session_user(served.client.cookies.get("jarvis_session"))
    assert session is not None
    return session.user_id


def pending_email(served: Served, user_id: str, subject: str = "Hola") -> str:
    scope = served.runtime.scope_for(user_id)
    scope.voice_key.set(PHRASE)
    outcome = scope.actions.submit(scope.mail.request_send(["ana@example.com"], subject, "Nos vemos el lunes."))
    assert outcome.status == "pending_confirmation"
    return outcome.action_id


def status_of(served: Served, user_id: str, action_id: str) -> str:
    return served.runtime.scope_for(user_id).actions.get(action_id).status


def post(served: Served, action_id: str, decision: str, **fields: str) -> Any:
    page = served.client.get(f"/app/approvals/{action_id}")
    assert page.status_code == 200, page.text
    return served.client.post(f"/app/approvals/{action_id}/{decision}", data={"csrf_token": csrf(page.text), **fields})


def test_a_pending_action_is_listed_with_its_sealed_summary_as_data(served: Served) -> None:
    ana = sign_in(served, "ana@example.com")
    action_id = pending_email(served, ana, subject='<script>alert("x")</script> Reunión')
    listed = served.client.get("/app/approvals")
    assert listed.status_code == 200
    assert f'data-action-id="{action_id}"' in listed.text
    assert "<script>alert" not in listed.text and "&lt;script&gt;alert" in listed.text
    assert "Reunión" in listed.text
    one = served.client.get(f"/app/approvals/{action_id}")
    assert re.search(r'<blockquote class="sealed" id="summary">[^<]*&lt;script&gt;', one.text)
    assert 'id="approve-form"' in one.text and 'type="password"' in one.text


def test_approving_with_the_voice_key_runs_it_once(served: Served) -> None:
    ana = sign_in(served, "ana@example.com")
    action_id = pending_email(served, ana)
    done = post(served, action_id, "approve", phrase=TYPED)
    assert done.status_code == 200, done.text
    assert 'id="notice"' in done.text and 'data-status="not_delivered"' in done.text
    # The outbox shows it carried out: kept in the local outbox (no provider configured), with its reference.
    outcome = served.runtime.scope_for(ana).actions.get(action_id)
    assert outcome.status == "not_delivered" and outcome.provider == "outbox" and outcome.provider_ref
    assert Change(ana, "action", action_id) in served.changes
    audited = [(a.tool, a.status) for a in served.runtime.scope_for(ana).account.history(10).actions]
    assert ("app:approve_action", "ok") in audited
    # Single use: a second approval runs nothing and says why.
    again = served.client.post(f"/app/approvals/{action_id}/approve",
                               data={"csrf_token": csrf(done.text), "phrase": TYPED})
    assert again.status_code == 400 and "nothing to confirm" in again.text
    assert not served.client.get("/app/approvals").text.count(f'data-action-id="{action_id}"')


def test_wrong_keys_share_confirm_actions_lockout(served: Served) -> None:
    ana = sign_in(served, "ana@example.com")
    action_id = pending_email(served, ana)
    actions = served.runtime.scope_for(ana).actions
    with pytest.raises(VoiceKeyError):
        actions.confirm(action_id, WRONG)  # one wrong phrase through confirm_action's path
    for n in range(2, LOCK_AFTER + 1):
        wrong = post(served, action_id, "approve", phrase=WRONG)
        assert wrong.status_code == 400 and "wrong voice key" in wrong.text, n
    assert "locked" in wrong.text
    # Locked for both: the right phrase on the page and through confirm_action.
    locked = post(served, action_id, "approve", phrase=TYPED)
    assert locked.status_code == 400 and "locked" in locked.text
    with pytest.raises(VoiceKeyError, match="locked"):
        actions.confirm(action_id, PHRASE)
    assert status_of(served, ana, action_id) == "pending_confirmation"


def test_an_empty_phrase_is_not_counted(served: Served) -> None:
    ana = sign_in(served, "ana@example.com")
    action_id = pending_email(served, ana)
    for _ in range(LOCK_AFTER + 1):
        empty = post(served, action_id, "approve", phrase="   ")
        assert empty.status_code == 400 and "Type your voice key" in empty.text
    assert served.runtime.scope_for(ana).voice_key.status().attempts_left == LOCK_AFTER
    assert post(served, action_id, "approve", phrase=TYPED).status_code == 200


def test_rejecting_sends_nothing(served: Served) -> None:
    ana = sign_in(served, "ana@example.com")
    action_id = pending_email(served, ana)
    done = post(served, action_id, "reject")
    assert done.status_code == 200 and "Rejected" in done.text
    outcome = served.runtime.scope_for(ana).actions.get(action_id)
    assert outcome.status == "cancelled" and outcome.provider is None and outcome.delivered is False
    assert Change(ana, "action", action_id) in served.changes
    late = served.client.post(f"/app/approvals/{action_id}/approve", data={"csrf_token": csrf(done.text), "phrase": TYPED})
    assert late.status_code == 400 and status_of(served, ana, action_id) == "cancelled"


def test_a_stale_sign_in_must_sign_in_again(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    ana = sign_in(served, "ana@example.com")
    action_id = pending_email(served, ana)
    page = served.client.get(f"/app/approvals/{action_id}")
    monkeypatch.setattr(approvals_module, "now", lambda: time.time() + 11 * 60)
    stale = served.client.get(f"/app/approvals/{action_id}")
    assert 'id="approve-form"' not in stale.text
    assert f'href="/signin?next=%2Fapp%2Fapprovals%2F{action_id}"' in stale.text
    refused = served.client.post(f"/app/approvals/{action_id}/approve",
                                 data={"csrf_token": csrf(page.text), "phrase": TYPED})
    assert refused.status_code == 401 and "sign in again" in refused.text.lower()
    assert status_of(served, ana, action_id) == "pending_confirmation"
    assert served.runtime.scope_for(ana).voice_key.status().attempts_left == LOCK_AFTER  # nothing checked
    # Signing in again (back to this page) makes it fresh.
    monkeypatch.setattr(approvals_module, "now", time.time)
    assert sign_in(served, "ana@example.com") == ana
    assert post(served, action_id, "approve", phrase=TYPED).status_code == 200
    assert status_of(served, ana, action_id) == "not_delivered"


@pytest.mark.parametrize("token", [None, "forged", "other-browser"])
def test_a_form_without_this_browsers_csrf_token_is_refused(served: Served, token: str | None) -> None:
    ana = sign_in(served, "ana@example.com")
    action_id = pending_email(served, ana)
    data = {"phrase": TYPED}
    if token == "forged":
        data["csrf_token"] = "not-a-token"
    elif token == "other-browser":
        other = TestClient(served.client.app, base_url=BASE)  # another browser (the app is already running)
        data["csrf_token"] = csrf(other.get("/signin").text)  # signed over that browser's cookie
    for decision in ("approve", "reject"):
        refused = served.client.post(f"/app/approvals/{action_id}/{decision}", data=data)
        assert refused.status_code == 403, decision
    assert status_of(served, ana, action_id) == "pending_confirmation"


def test_another_person_cannot_see_or_decide_an_action(served: Served) -> None:
    ana = sign_in(served, "ana@example.com")
    hers = pending_email(served, ana, subject="Confidencial para Ana")
    assert Change(ana, "action", hers) in served.changes  # told when it was asked for
    bob = sign_in(served, "bob@example.com")
    served.changes.clear()
    served.runtime.scope_for(bob).voice_key.set(PHRASE)  # even the same phrase opens nothing of hers
    made_up = "act_" + "0" * 24
    assert "Confidencial" not in served.client.get("/app/approvals").text
    for action_id in (hers, made_up):
        assert served.client.get(f"/app/approvals/{action_id}").status_code == 404
    token = csrf(served.client.get("/app/approvals").text)
    for decision in ("approve", "reject"):
        theirs = served.client.post(f"/app/approvals/{hers}/{decision}", data={"csrf_token": token, "phrase": TYPED})
        missing = served.client.post(f"/app/approvals/{made_up}/{decision}", data={"csrf_token": token, "phrase": TYPED})
        assert theirs.status_code == missing.status_code == 404
        assert theirs.text == missing.text  # nothing tells hers from none
    assert status_of(served, ana, hers) == "pending_confirmation"
    assert served.runtime.scope_for(bob).voice_key.status().attempts_left == LOCK_AFTER
    assert served.changes == []  # nothing of hers moved


def test_signed_out_is_sent_to_sign_in_and_back(served: Served) -> None:
    served.client.cookies.clear()
    answer = served.client.get("/app/approvals/act_x")
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=%2Fapp%2Fapprovals%2Fact_x"
