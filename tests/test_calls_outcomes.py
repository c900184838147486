"""A call's outcome coming back: polled through get_call and delivered by ElevenLabs' signed webhook, kept
once (cache, outbox result, the contact's timeline, a memory of kind `call`), in Spanish and English, and
never for anyone but the call's own user. The webhook is exercised over HTTP on a Starlette app."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from elevenlabs.webhooks_custom import WebhooksClient
from fake_elevenlabs import FakeElevenLabs, conversation
from starlette.applications import Starlette
from starlette.testclient import TestClient

from jarvis_mcp import bootstrap
from jarvis_mcp.calls.routes import PATH, webhook_routes
from jarvis_mcp.calls.webhook import HEADER, TOLERANCE_S, WebhookRejected, sign, verify
from jarvis_mcp.errors import NotFound

SECRET = "whsec_test"
PURPOSE = "Confirmar la cena del viernes"


@pytest.fixture
def placed(runtime, monkeypatch):
    """Alice (and Bob, who has nothing) with one ElevenLabs call placed to her contact Ana."""
    fake = FakeElevenLabs()
    monkeypatch.setattr(bootstrap, "make_caller", lambda settings: fake.caller(agent_id="agent_default"))
    rt = runtime()
    alice = rt.store.user_for_identity("local", "alice", "local", None)
    bob = rt.store.user_for_identity("local", "bob", "local", None)
    scope = rt.scope_for(alice)
    ana = scope.contacts.save(name="Ana López", phones=["+34612345678"]).contact.id
    outcome = scope.actions.submit(scope.calls.request_call("Ana López", PURPOSE, language="es"))
    assert outcome.status == "sent" and outcome.provider_ref == "conv_1"
    return SimpleNamespace(rt=rt, fake=fake, alice=alice, bob=bob, ana=ana, call_id=outcome.action_id)


def memories(rt: Any, user: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in rt.store.db.conn.execute(
        "SELECT kind, text FROM memories WHERE user_id = ? AND kind = 'call'", (user,)).fetchall()]


def timeline(rt: Any, user: str) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in rt.store.db.conn.execute(
        "SELECT party, kind, ref FROM interactions WHERE user_id = ?", (user,)).fetchall()]


def event(call_id: str, conversation_id: str = "conv_1", summary: str = "Ana confirmed dinner on Friday at 9.",
          status: str = "done") -> bytes:
    data = conversation(conversation_id, status, [("agent", "Hola Ana"), ("user", "Sí, el viernes")], summary)
    data["conversation_initiation_client_data"] = {"user_id": call_id, "dynamic_variables": {}}
    return json.dumps({"type": "post_call_transcription", "event_timestamp": int(time.time()), "data": data}).encode()


def app_for(rt: Any) -> TestClient:
    return TestClient(Starlette(routes=webhook_routes(SimpleNamespace(runtime=rt), SECRET)))


def post(client: TestClient, body: bytes, header: str | None) -> Any:
    return client.post(PATH, content=body, headers={HEADER: header} if header is not None else {})


# -- polling ----------------------------------------------------------------------------------------


def test_polling_keeps_a_finished_call_once_everywhere_spanish(placed) -> None:
    rt, scope = placed.rt, placed.rt.scope_for(placed.alice)
    placed.fake.conversations["conv_1"] = conversation("conv_1", "in-progress", [("agent", "Hola")], summary=None)
    assert scope.calls.get_call(placed.call_id).status == "in_progress"
    assert memories(rt, placed.alice) == [] and timeline(rt, placed.alice) == []  # not over yet

    summary = "Ana confirmó la cena del viernes a las nueve."
    placed.fake.conversations["conv_1"] = conversation("conv_1", "done", [("user", "Sí")], summary=summary)
    call = scope.calls.get_call(placed.call_id)
    assert (call.status, call.summary, call.duration_seconds) == ("done", summary, 42)
    assert memories(rt, placed.alice) == [("call", f"Llamada con Ana López · 42 s: {summary} (done)")]
    assert timeline(rt, placed.alice) == [(placed.ana, "call", placed.call_id)]
    result = rt.store.outbox_get(placed.alice, placed.call_id).result
    assert (result["summary"], result["duration_seconds"], result["call_status"]) == (summary, 42, "done")
    assert result["placed"] is True  # what placing it said is kept beside the outcome

    scope.calls.get_call(placed.call_id)
    assert len(memories(rt, placed.alice)) == 1 and len(timeline(rt, placed.alice)) == 1
    found = scope.memory.search("¿qué dijo Ana de la cena del viernes?", kinds=["call"])
    assert [hit.kind for hit in found.hits] == ["call"] and summary in found.hits[0].text


def test_an_english_call_is_remembered_in_english(placed) -> None:
    rt, scope = placed.rt, placed.rt.scope_for(placed.alice)
    outcome = scope.actions.submit(scope.calls.request_call("Ana López", "Confirm Friday's dinner", language="en"))
    assert outcome.provider_ref == "conv_2"
    placed.fake.conversations["conv_2"] = conversation("conv_2", "done", [("user", "Yes")],
                                                       summary="Ana will bring dessert on Friday.")
    scope.calls.get_call(outcome.action_id)
    assert memories(rt, placed.alice) == [("call", "Call with Ana López · 42s: Ana will bring dessert on Friday. (done)")]
    found = scope.memory.search("what is Ana bringing?", kinds=["call"])
    assert found.hits and "dessert" in found.hits[0].text


# -- the webhook ------------------------------------------------------------------------------------


def test_a_signed_delivery_is_stored_and_remembered_english(placed) -> None:
    rt = placed.rt
    client = app_for(rt)
    body = event(placed.call_id)
    answer = post(client, body, sign(body, SECRET, int(time.time())))
    assert answer.status_code == 200 and answer.json() == {"status": "stored"}
    call = rt.scope_for(placed.alice).calls.get_call(placed.call_id)
    assert call.status == "done" and call.summary == "Ana confirmed dinner on Friday at 9."
    assert [t.text for t in call.transcript] == ["Hola Ana", "Sí, el viernes"]
    assert not placed.fake.of("GET", "/v1/convai/conversations/conv_1")  # the webhook spared the poll
    assert memories(rt, placed.alice) == [
        ("call", "Llamada con Ana López · 42 s: Ana confirmed dinner on Friday at 9. (done)")]
    # The same delivery again (ElevenLabs retries) changes nothing.
    again = post(client, body, sign(body, SECRET, int(time.time())))
    assert again.status_code == 200
    assert len(memories(rt, placed.alice)) == 1 and len(timeline(rt, placed.alice)) == 1
    # A later delivery for a call already final (a redelivery after a re-analysis) keeps the first word.
    later = event(placed.call_id, summary="A different later summary.")
    assert post(client, later, sign(later, SECRET, int(time.time()))).status_code == 200
    assert rt.scope_for(placed.alice).calls.get_call(placed.call_id).summary == "Ana confirmed dinner on Friday at 9."
    assert len(memories(rt, placed.alice)) == 1


@pytest.mark.parametrize("header", [
    None, "", "t=123", "v0=abc", "t=now,v0=abc",
    "wrong-secret", "stale", "future", "tampered",
])
def test_a_bad_missing_or_stale_signature_is_401_and_nothing_is_stored(placed, header: str | None) -> None:
    rt = placed.rt
    body = event(placed.call_id)
    now = int(time.time())
    signed = {"wrong-secret": sign(body, "whsec_other", now), "stale": sign(body, SECRET, now - TOLERANCE_S - 5),
              "future": sign(body, SECRET, now + TOLERANCE_S + 5),
              "tampered": sign(event(placed.call_id, summary="forged"), SECRET, now)}
    answer = post(app_for(rt), body, signed.get(header or "", header))
    assert answer.status_code == 401 and answer.json() == {"error": "invalid signature"}
    assert rt.store.call_get(placed.alice, placed.call_id) is None
    assert memories(rt, placed.alice) == [] and timeline(rt, placed.alice) == []


def test_other_events_and_unknown_calls_are_acknowledged_and_ignored(placed) -> None:
    client = app_for(placed.rt)
    other = json.dumps({"type": "post_call_audio", "data": {"conversation_id": "conv_1"}}).encode()
    assert post(client, other, sign(other, SECRET, int(time.time()))).json() == {"status": "ignored"}
    made_up = event("00000000-0000-4000-8000-000000000000")
    assert post(client, made_up, sign(made_up, SECRET, int(time.time()))).json() == {"status": "unknown call"}
    wrong_conv = event(placed.call_id, conversation_id="conv_999")
    assert post(client, wrong_conv, sign(wrong_conv, SECRET, int(time.time()))).json() == {"status": "unknown call"}
    assert placed.rt.store.call_get(placed.alice, placed.call_id) is None


def test_without_a_secret_there_is_no_endpoint() -> None:
    assert webhook_routes(SimpleNamespace(), None) == [] and webhook_routes(SimpleNamespace(), "") == []


def test_our_signature_is_the_one_the_sdk_checks() -> None:
    body = b'{"type": "post_call_transcription", "data": {}}'
    header = sign(body, SECRET, int(time.time()))
    assert WebhooksClient(client_wrapper=None).construct_event(body.decode(), header, SECRET) == json.loads(body)  # type: ignore[arg-type]
    assert verify(body, header, SECRET)["type"] == "post_call_transcription"
    with pytest.raises(WebhookRejected, match="no webhook secret"):
        verify(body, header, "")


# -- isolation --------------------------------------------------------------------------------------


def test_bob_can_neither_receive_nor_poll_alices_call_outcome(placed) -> None:
    from jarvis_mcp.calls.ports import CallState

    rt = placed.rt
    with pytest.raises(NotFound):
        rt.scope_for(placed.bob).calls.outcomes.record(placed.call_id, "conv_1", CallState(status="done", summary="x"))
    assert rt.store.call_get(placed.alice, placed.call_id) is None
    body = event(placed.call_id)
    assert post(app_for(rt), body, sign(body, SECRET, int(time.time()))).json() == {"status": "stored"}
    assert memories(rt, placed.bob) == [] and timeline(rt, placed.bob) == []
    assert rt.store.call_get(placed.bob, placed.call_id) is None
    assert len(memories(rt, placed.alice)) == 1
