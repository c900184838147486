"""An outcome that is not known (no answer to a send that reached the provider, a crash mid-send) is its own
status, `unknown`: a retry finds it instead of doing it again, recovery never redoes it, and only the
person's confirmation (confirm_action) does it again. SMTP against a real server (aiosmtpd) that stalls,
ElevenLabs at its HTTP boundary, and a crash right after the provider acted for every kind of action."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fake_elevenlabs import FakeElevenLabs
from googleapiclient.http import HttpMockSequence
from mcp.types import CallToolResult

from jarvis_mcp import bootstrap
from jarvis_mcp import runtime as runtime_module
from jarvis_mcp.actions.service import ActionRequest, ActionService, ExecutionResult, OutcomeUnknown
from jarvis_mcp.adapters.google_calendar import GoogleCalendar
from jarvis_mcp.adapters.mail_smtp import SmtpMailer
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.calendar.ports import CalendarError, EventRecord, NewEvent
from jarvis_mcp.calendar.service import ScheduleEvent
from jarvis_mcp.calls.service import CallService
from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.mail.ports import MailError
from jarvis_mcp.mail.service import MailService
from jarvis_mcp.memory.service import BulkForget

PHRASE = "the blue heron flies at dawn"
SMTP = {"mailer": "smtp", "smtp_host": "127.0.0.1", "smtp_security": "none", "smtp_from": "Alice <alice@example.org>"}


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def err(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return re.sub(r"^Error executing tool \w+: ", "", result.content[0].text)


class Inbox:
    """Takes every message. With stall_on set, answers that command only after the client has given up:
    at DATA the message is kept first, as a slow server that queues it and answers too late."""

    def __init__(self, stall_on: str | None = None, seconds: float = 2.5) -> None:
        self.messages: list[bytes] = []
        self.stall_on = stall_on
        self.seconds = seconds
        self.idle = threading.Event()
        self.idle.set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201, N802
        if self.stall_on == "RCPT":
            await asyncio.sleep(self.seconds)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.messages.append(envelope.content)
        if self.stall_on == "DATA":
            self.idle.clear()
            try:
                await asyncio.sleep(self.seconds)
            finally:  # aiosmtpd cancels the handler when the client hangs up
                self.idle.set()
        return "250 2.0.0 queued"


@pytest.fixture
def smtp() -> Iterator[Callable[[Inbox], int]]:
    started: list[Controller] = []

    def start(inbox: Inbox) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["Message-ID"] = "<a1@jarvis-mcp>"
    msg["From"], msg["To"], msg["Subject"] = "me@example.org", "ana@example.com", "Hola"
    msg.set_content("t\n")
    return msg


# -- SMTP: "certainly not sent" and "may have been sent" ----------------------------------------------


def test_smtp_silence_after_data_is_ambiguous_and_before_it_is_not(smtp) -> None:  # noqa: ANN001
    slow_data = Inbox("DATA")
    port = smtp(slow_data)
    with pytest.raises(MailError) as maybe:
        SmtpMailer("127.0.0.1", port=port, security="none", timeout=0.5).send(message(), idempotency_key="a1")
    assert maybe.value.ambiguous and not maybe.value.retryable and "may or may not have accepted" in str(maybe.value)
    assert slow_data.idle.wait(10) and len(slow_data.messages) == 1  # it had taken it: a resend would double it

    slow_rcpt = Inbox("RCPT")
    port = smtp(slow_rcpt)
    with pytest.raises(MailError) as surely_not:
        SmtpMailer("127.0.0.1", port=port, security="none", timeout=0.5).send(message(), idempotency_key="a1")
    assert surely_not.value.retryable and not surely_not.value.ambiguous
    assert "before the message was sent" in str(surely_not.value) and slow_rcpt.messages == []


async def test_a_send_with_no_answer_is_unknown_and_sent_again_only_when_confirmed(client_for, smtp) -> None:  # noqa: ANN001
    inbox = Inbox("DATA")
    args = {"to": ["ana@example.com"], "subject": "Factura", "body": "Va adjunta."}
    async with client_for("alice", **SMTP, smtp_port=smtp(inbox), smtp_timeout_seconds=1) as c:
        ok(await c.call_tool("save_contact", {"name": "Ana García", "emails": ["ana@example.com"]}))
        first = ok(await c.call_tool("send_email", args))
        assert (first["status"], first["delivered"], first["provider"]) == ("unknown", None, "smtp")
        assert "may or may not have accepted" in first["error"] and "not sent again" in first["error"]
        assert "confirm_action" in first["how_to_confirm"]
        assert inbox.idle.wait(10)
        inbox.stall_on = None

        again = ok(await c.call_tool("send_email", args))
        assert (again["action_id"], again["replayed"], again["status"]) == (first["action_id"], True, "unknown")
        assert again["how_to_confirm"] == first["how_to_confirm"]
        assert len(inbox.messages) == 1
        assert ok(await c.call_tool("get_action", {"action_id": first["action_id"]}))["status"] == "unknown"
        assert [a["status"] for a in ok(await c.call_tool("list_actions", {}))["actions"]] == ["unknown"]
        outbox = json.loads((await c.read_resource("jarvis://me/outbox")).contents[0].text)["actions"]
        assert outbox[0]["status"] == "unknown"
        assert "cannot cancel: the action is unknown" in err(await c.call_tool("cancel_action", {"action_id": first["action_id"]}))

        # The person says to send it again: once, with the same Message-ID.
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        resent = ok(await c.call_tool("confirm_action", {"action_id": first["action_id"], "phrase": PHRASE}))
        assert (resent["status"], resent["delivered"]) == ("sent", True)
        twice = err(await c.call_tool("confirm_action", {"action_id": first["action_id"], "phrase": PHRASE}))
        assert twice.startswith("action_id: nothing to confirm: the action is sent")
    assert len(inbox.messages) == 2
    assert {message_from_bytes(m, policy=policy.default)["Message-ID"] for m in inbox.messages} == {first["message_id"]}


# -- ElevenLabs: no answer, and no way to ask -----------------------------------------------------------


async def test_a_call_with_no_answer_is_unknown_and_not_placed_twice(client_for, monkeypatch) -> None:  # noqa: ANN001
    fake = FakeElevenLabs()
    monkeypatch.setattr(bootstrap, "make_caller", lambda settings: fake.caller(agent_id="agent_default"))
    fake.lose_answer("POST", "/v1/convai/twilio/outbound-call")  # placed, but the answer never came back
    fake.script("GET", "/v1/convai/conversations", *[httpx.Response(500, json={"detail": "down"})] * 20)
    args = {"contact": "Ana", "purpose": "Confirm dinner on Friday"}
    async with client_for("alice") as c:
        ok(await c.call_tool("save_contact", {"name": "Ana", "phones": ["+34612345678"]}))
        first = ok(await c.call_tool("call_contact", args))
        assert (first["status"], first["placed"], first["delivered"]) == ("unknown", False, None)
        assert first["message"].startswith("Not known whether the call was placed") and "confirm_action" in first["message"]
        again = ok(await c.call_tool("call_contact", args))
        assert (again["call_id"], again["replayed"], again["status"]) == (first["call_id"], True, "unknown")
        call = ok(await c.call_tool("get_call", {"call_id": first["call_id"]}))
        assert call["status"] == "unknown" and call["message"].startswith("Not known whether the call was placed")
    assert len(fake.of("POST", "/v1/convai/twilio/outbound-call")) == 1


# -- a crash right after the provider acted, then a restart -----------------------------------------------


class Killed(BaseException):
    """The process dying mid-send: after the provider acted, before the outcome was written."""


def dies_once_after(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[str]:
    """Patch cls.execute to act and then die, the first time; the ids it ran for."""
    original = cls.execute  # type: ignore[attr-defined]
    ran: list[str] = []

    def execute(self: Any, action_id: str, arguments: dict[str, Any]) -> Any:
        ran.append(action_id)
        result = original(self, action_id, arguments)
        if len(ran) == 1:
            raise Killed
        return result

    monkeypatch.setattr(cls, "execute", execute)
    return ran


@pytest.mark.parametrize(("kind", "after_recovery"), [
    ("send_email", "unknown"),  # SMTP cannot be asked
    ("call_contact", "unknown"),  # ElevenLabs could be asked, but its lookup is down
    ("forget_memories", "unknown"),  # no provider to ask
    ("schedule_event", "completed"),  # the event's id comes from the action: the calendar can tell
])
def test_a_crash_mid_send_is_never_redone_by_a_retry(kind, after_recovery, settings_for, embedder, smtp,  # noqa: ANN001
                                                     monkeypatch) -> None:
    inbox, fake = Inbox(), FakeElevenLabs()
    monkeypatch.setattr(bootstrap, "make_caller", lambda settings: fake.caller())
    settings = settings_for("alice", **SMTP, smtp_port=smtp(inbox))
    rt = open_runtime(settings, embedder=embedder)
    user = rt.local_user_id()
    scope = rt.scope_for(user)
    scope.contacts.save(name="Ana García", emails=["ana@example.com"], phones=["+34612345678"])
    confirm = False
    if kind == "send_email":
        ran = dies_once_after(monkeypatch, MailService)
        request: Any = scope.mail.request_send(["Ana García"], "Hola", "Una sola vez.")
    elif kind == "call_contact":
        ran = dies_once_after(monkeypatch, CallService)
        request = scope.calls.request_call("Ana García", "Confirm dinner on Friday")
        fake.script("GET", "/v1/convai/conversations", *[httpx.Response(500, json={"detail": "down"})] * 20)
    elif kind == "forget_memories":
        ran = dies_once_after(monkeypatch, BulkForget)
        ids = [scope.memory.remember(f"Note {i} about the garden").memory.id for i in range(11)]
        request, confirm = BulkForget.request(ids), True
        scope.voice_key.set(PHRASE)
    else:
        ran = dies_once_after(monkeypatch, ScheduleEvent)
        request = scope.calendar.request_schedule("Dentista", "2031-03-04T10:00:00", duration_minutes=30,
                                                  timezone="Europe/Madrid")
    try:
        with pytest.raises(Killed):
            submitted = scope.actions.submit(request)
            if confirm:
                scope.actions.confirm(submitted.action_id, PHRASE)
        [row] = rt.store.outbox_list(user, 10)
        assert row.status == "sending" and ran == [row.id]
    finally:
        rt.close()

    monkeypatch.setattr(runtime_module, "STALE_AFTER_S", -1.0)  # whatever is still sending was left by the crash
    restarted = open_runtime(settings, embedder=embedder)
    try:
        assert runtime_module.recover_actions(restarted) == 1
        assert restarted.store.outbox_get(user, row.id).status == after_recovery
        again = restarted.scope_for(user).actions.submit(request)
        assert (again.action_id, again.replayed, again.status) == (row.id, True, after_recovery)
        assert ran == [row.id]  # done once, by the process that died
        if kind == "send_email":
            assert len(inbox.messages) == 1
        if kind == "call_contact":
            assert len(fake.of("POST", "/v1/convai/twilio/outbound-call")) == 1
        if after_recovery == "unknown":
            assert "confirm_action" in (again.how_to_confirm or "")
    finally:
        restarted.close()


# -- the core: what counts as unknown, and the one way out of it -------------------------------------------


class Provider:
    """An executor that counts its runs: unsure the first time, then done; optionally reconciling."""

    def __init__(self, first: BaseException | None = None, told: ExecutionResult | None = None) -> None:
        self.runs: list[str] = []
        self.first = first or OutcomeUnknown("no answer from the provider", provider="test")
        self.told = told
        self.lock = threading.Lock()

    def execute(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        with self.lock:
            self.runs.append(action_id)
            first = len(self.runs) == 1
        if first:
            raise self.first
        return ExecutionResult(status="sent", provider="test", provider_ref=f"ref-{len(self.runs)}")

    def reconcile(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult | None:
        return self.told


def core(runtime: Any, provider: Provider) -> ActionService:
    rt = runtime("alice")
    scope = rt.scope_for(rt.local_user_id())
    scope.voice_key.set(PHRASE)
    return ActionService(scope.user_id, scope.store, {"send_email": provider}, scope.voice_key)


@pytest.mark.parametrize("fault", [OutcomeUnknown("no answer from the provider"), RuntimeError("bug after sending")])
def test_an_unsure_or_unexpected_failure_is_unknown_and_retries_replay_it(runtime, fault) -> None:  # noqa: ANN001
    provider = Provider(first=fault)
    actions = core(runtime, provider)
    first = actions.submit(ActionRequest("send_email", {"to": "ana"}, "Email Ana"))
    assert (first.status, first.delivered, first.confirmation_required) == ("unknown", None, False)
    assert first.how_to_confirm is not None and "confirm_action" in first.how_to_confirm
    derived = actions.submit(ActionRequest("send_email", {"to": "ana"}, "Email Ana"))
    assert (derived.action_id, derived.replayed, derived.status) == (first.action_id, True, "unknown")
    keyed = actions.submit(ActionRequest("send_email", {"to": "bea"}, "Email Bea", idempotency_key="k-1"))
    again = actions.submit(ActionRequest("send_email", {"to": "bea"}, "Email Bea", idempotency_key="k-1"))
    assert (keyed.status, again.action_id, again.replayed) == ("sent", keyed.action_id, True)
    assert provider.runs == [first.action_id, keyed.action_id]


def test_declining_a_resend_leaves_it_unknown_and_confirming_it_sends_once(runtime) -> None:  # noqa: ANN001
    provider = Provider()
    actions = core(runtime, provider)
    first = actions.submit(ActionRequest("send_email", {"to": "ana"}, "Email Ana"))
    assert "again" in (actions.pending_summary(first.action_id) or "")  # what the client's dialog asks
    assert actions.confirm_by_person(first.action_id, False).status == "unknown"
    results: list[Any] = []

    def confirm() -> None:
        try:
            results.append(actions.confirm(first.action_id, PHRASE).status)
        except InvalidInput as exc:
            results.append(exc.field)

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["action_id", "sent"] and provider.runs == [first.action_id] * 2
    assert actions.get(first.action_id).provider_ref == "ref-2"


def test_a_resend_the_provider_can_vouch_for_is_not_sent_again(runtime) -> None:  # noqa: ANN001
    provider = Provider(told=ExecutionResult(status="sent", provider="test", provider_ref="it-was-there"))
    actions = core(runtime, provider)
    first = actions.submit(ActionRequest("send_email", {"to": "ana"}, "Email Ana"))
    done = actions.confirm_by_person(first.action_id, True)
    assert (done.status, done.provider_ref, provider.runs) == ("sent", "it-was-there", [first.action_id])


class FlakyCalendar:
    """A Google-like calendar whose insert fails without a clear refusal; get answers as told."""

    provider = "google"

    def __init__(self, found: EventRecord | Exception | None) -> None:
        self.found = found

    def insert(self, event: Any) -> str:
        raise CalendarError("Google Calendar is unavailable: gave up after 4 attempts (last: timeout)", ambiguous=True)

    def get(self, ref: str) -> EventRecord | None:
        if isinstance(self.found, Exception):
            raise self.found
        return self.found

    def busy(self, start: float, end: float) -> list[tuple[float, float]]:
        return []


@pytest.mark.parametrize(("found", "status"), [
    (CalendarError("Google Calendar is unavailable"), "unknown"),  # cannot ask whether the insert landed
    (EventRecord(id="ev-1", title="Dentista", start=0, end=1, timezone="UTC"), "sent"),  # it did
    (None, "failed"),  # it did not: the id is the action's, so nothing else could have made it
])
def test_a_calendar_insert_without_an_answer_is_checked_by_its_id(runtime, found, status) -> None:  # noqa: ANN001
    rt = runtime("alice")
    scope = rt.scope_for(rt.local_user_id())
    calendar = scope.calendar
    calendar.__dict__["calendar"] = FlakyCalendar(found)
    request = calendar.request_schedule("Dentista", "2031-03-04T10:00:00", duration_minutes=30,
                                        timezone="Europe/Madrid", check_conflicts="ignore")
    actions = ActionService(scope.user_id, scope.store, {"schedule_event": ScheduleEvent(calendar)}, scope.voice_key)
    out = actions.submit(request)
    assert (out.status, out.provider) == (status, "google" if status != "failed" else "-")
    assert "unavailable" in (out.error or "unavailable")


@pytest.mark.parametrize(("statuses", "ambiguous"), [((503,) * 5, False), ((500,) + (503,) * 4, True)])
def test_google_calendar_says_when_an_insert_may_have_gone_through(statuses, ambiguous) -> None:  # noqa: ANN001
    token = ({"status": "200"}, json.dumps({"access_token": "a-1", "expires_in": 3600, "token_type": "Bearer"}))
    failures = [({"status": str(s)}, json.dumps({"error": {"code": s, "message": "backendError"}})) for s in statuses]
    info = {"refresh_token": "r-1", "client_id": "c-1", "client_secret": "s-1", "token_uri": "https://oauth2.googleapis.com/token"}
    google = GoogleCalendar.from_authorized_user_info(info, http=HttpMockSequence([token, *failures]), sleep=lambda s: None)
    event = NewEvent(id="0123456789abcdef0123456789abcdef", title="Dentista", start=2e9, end=2e9 + 1800, timezone="UTC")
    with pytest.raises(CalendarError) as raised:
        google.insert(event)
    assert raised.value.ambiguous is ambiguous and "gave up after 5 attempts" in str(raised.value)
