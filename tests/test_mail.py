"""send_email: through the MCP client on the default outbox and a real SMTP server, and the mail service
directly (with a scripted Mailer, and Gmail at its HTTP boundary) for retries, recovery and re-checks."""

from __future__ import annotations

import base64
import json
import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from googleapiclient.http import HttpMockSequence
from mcp import Client
from mcp.types import CallToolResult

from jarvis_mcp.actions.ports import NewOutbox
from jarvis_mcp.actions.service import ActionService, args_hash
from jarvis_mcp.adapters.mail_gmail import READ_SCOPE, SEND_SCOPE, GmailMailer
from jarvis_mcp.adapters.mail_outbox import NOT_DELIVERED, OutboxMailer
from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.mail.message import message_id_for, parse_address
from jarvis_mcp.mail.ports import MailError, MailReceipt
from jarvis_mcp.mail.service import MailService
from jarvis_mcp.scope import UserScope

PHRASE = "mi perro se llama trueno"
MADE_UP_ID = "00000000-0000-4000-8000-000000000000"


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def err(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return re.sub(r"^Error executing tool \w+: ", "", result.content[0].text)


def emails_in(home: Path) -> list[EmailMessage]:
    return [message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for p in sorted((home / "outbox").rglob("*.eml"))]


async def seed(c: Client) -> dict[str, str]:
    """Contacts (two Anas, one without email) and a document; their ids."""
    ids = {}
    for name, emails in (("Ana García", ["ana@example.com"]), ("Ana López", ["ana.lopez@example.org"]),
                         ("Bruno Díaz", ["bruno@example.com", "bruno@work.example.com"]), ("Carla Sin", [])):
        args: dict[str, Any] = {"name": name, "emails": emails} if emails else {"name": name, "phones": ["+34612345678"]}
        ids[name] = ok(await c.call_tool("save_contact", args))["contact"]["id"]
    ids["doc"] = ok(await c.call_tool("add_document", {
        "title": "Presupuesto 2024", "text": "# Presupuesto\n\nReforma de la cocina: 4.200 euros."}))["document"]["id"]
    return ids


# -- through the MCP client: the default outbox ---------------------------------------------------


async def test_an_email_to_a_contact_is_kept_in_the_outbox(client_for, home: Path) -> None:
    async with client_for("alice") as c:
        await seed(c)
        out = ok(await c.call_tool("send_email", {"to": ["Bruno"], "cc": ["ana.lopez@example.org"],
                                                  "subject": "Obra de la cocina", "body": "Hola Bruno,\n¿empezamos el lunes?"}))
        assert out["status"] == "not_delivered" and out["delivered"] is False and out["confirmation_required"] is False
        assert out["provider"] == "outbox" and out["result"]["detail"] == NOT_DELIVERED
        assert out["message_id"] == f"<{out['action_id']}@jarvis-mcp>"
        assert [(r["header"], r["address"], r["name"]) for r in out["recipients"]] == [
            ("to", "bruno@example.com", "Bruno Díaz"), ("cc", "ana.lopez@example.org", "Ana López")]
        assert all(r["contact_id"] for r in out["recipients"]) and out["attachments"] == []
        assert "Obra de la cocina" in out["summary"] and "Bruno Díaz <bruno@example.com>" in out["summary"]
        listed = ok(await c.call_tool("list_actions", {}))["actions"]
        assert [(a["action_id"], a["kind"], a["status"]) for a in listed] == [(out["action_id"], "send_email", "not_delivered")]
        outbox = json.loads((await c.read_resource("jarvis://me/outbox")).contents[0].text)["actions"]
        assert outbox[0]["result"]["message_id"] == out["message_id"]
    [msg] = emails_in(home)
    assert msg["Message-ID"] == out["message_id"] and msg["Subject"] == "Obra de la cocina"
    assert msg["To"] == "Bruno Díaz <bruno@example.com>" and msg["Cc"] == "Ana López <ana.lopez@example.org>"
    assert msg["From"] and msg["Date"]
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Hola Bruno,\n¿empezamos el lunes?\n"


async def test_the_same_call_twice_sends_once(client_for, home: Path) -> None:
    args = {"to": ["ana@example.com"], "subject": "Hola", "body": "Una vez."}
    async with client_for("alice") as c:
        await seed(c)
        first = ok(await c.call_tool("send_email", args))
        second = ok(await c.call_tool("send_email", args))
        assert second["action_id"] == first["action_id"] and second["replayed"] is True
        assert second["status"] == "not_delivered" and second["message_id"] == first["message_id"]
        keyed = {**args, "subject": "Con clave", "idempotency_key": "factura-77"}
        one = ok(await c.call_tool("send_email", keyed))
        again = ok(await c.call_tool("send_email", keyed))
        assert again["action_id"] == one["action_id"] and again["replayed"] is True
        message = err(await c.call_tool("send_email", {**keyed, "body": "Otro texto"}))
        assert message.startswith("idempotency_key:") and "different action" in message
        assert len(ok(await c.call_tool("list_actions", {}))["actions"]) == 2
    assert len(emails_in(home)) == 2


@pytest.mark.parametrize(("args", "field", "says"), [
    ({"to": []}, "to", "at least one recipient"),
    ({"to": ["bob@"]}, "to", "is not a valid email address"),
    ({"to": ["ana@example.com"], "cc": ["bob at example.com"]}, "cc", "no contact is named"),
    ({"to": ["ana@example.com"], "bcc": ["x@example.com\r\nBcc: spy@evil.example"]}, "bcc", "control characters"),
    ({"to": ["ana@exa mple.com"]}, "to", "not a valid email address"),
    ({"to": ["Zacarías Nadie"]}, "to", "no contact is named 'Zacarías Nadie'"),
    ({"to": ["Ana"]}, "to", "'Ana' matches 2 contacts: Ana García <ana@example.com> (id"),
    ({"to": ["Carla Sin"]}, "to", "has no email address"),
    ({"to": [MADE_UP_ID]}, "contact", "contact not found"),
    ({"to": ["ana@example.com"], "subject": ""}, "subject", "must not be empty"),
    ({"to": ["ana@example.com"], "subject": "Hola\r\nBcc: spy@evil.example"}, "subject", "one line"),
    ({"to": ["ana@example.com"], "attachments": [MADE_UP_ID]}, "document", "document not found"),
    ({"to": ["ana@example.com"], "attachments": ["/etc/passwd"]}, "document", "document not found"),
    ({"to": ["ana@example.com"], "reply_to_message_id": "not an id"}, "reply_to_message_id", "Message-ID"),
    ({"to": ["ana@example.com"], "idempotency_key": "k" * 201}, "idempotency_key", "1-200 characters"),
    ({"to": [f"p{i}@example.com" for i in range(51)]}, "to", "at most 50 recipients"),
])
async def test_bad_input_is_refused_and_nothing_is_written(client_for, home: Path, args: dict[str, Any],
                                                           field: str, says: str) -> None:
    async with client_for("alice") as c:
        await seed(c)
        message = err(await c.call_tool("send_email", {"subject": "Hola", "body": "texto", **args}))
        assert message.startswith(field), message
        assert says in message, message
        assert ok(await c.call_tool("list_actions", {}))["actions"] == []
    assert not (home / "outbox").exists()


async def test_names_suggest_near_contacts(client_for) -> None:
    async with client_for("alice") as c:
        await seed(c)
        message = err(await c.call_tool("send_email", {"to": ["Bruna Diaz"], "subject": "x", "body": "y"}))
        assert "no contact is named 'Bruna Diaz'" in message and "Did you mean: Bruno Díaz" in message


async def test_attachments_over_the_limit_are_refused(client_for, home: Path) -> None:
    async with client_for("alice", mail_max_attachment_bytes=1024) as c:
        doc = ok(await c.call_tool("add_document", {"title": "Grande", "text": "palabra " * 400}))["document"]
        message = err(await c.call_tool("send_email", {"to": ["ana@example.com"], "subject": "x", "body": "y",
                                                       "attachments": [doc["id"]]}))
        assert message.startswith("attachments:") and f"{doc['size_bytes']} bytes" in message and "1024" in message
        assert ok(await c.call_tool("list_actions", {}))["actions"] == []


async def test_the_allowlist_fails_closed(client_for, home: Path) -> None:
    async with client_for("alice", mail_allowlist=["@example.com", "boss@partner.example"]) as c:
        await seed(c)
        message = err(await c.call_tool("send_email", {"to": ["Ana López"], "subject": "x", "body": "y"}))
        assert message.startswith("to:") and "ana.lopez@example.org is not on this server's mail allowlist" in message
        assert ok(await c.call_tool("list_actions", {}))["actions"] == []
        fine = ok(await c.call_tool("send_email", {"to": ["Ana García"], "cc": ["Boss@Partner.example"],
                                                   "subject": "x", "body": "y"}))
        assert fine["status"] == "pending_confirmation"  # the partner is allowed, but not a contact


# -- confirmation ---------------------------------------------------------------------------------


async def test_an_attachment_waits_for_the_voice_key(client_for, home: Path) -> None:
    async with client_for("alice") as c:
        ids = await seed(c)
        args = {"to": ["Ana García"], "subject": "Presupuesto", "body": "Te lo adjunto.", "attachments": [ids["doc"]]}
        pending = ok(await c.call_tool("send_email", args))
        assert pending["status"] == "pending_confirmation" and pending["confirmation_required"] is True
        assert pending["delivered"] is None and pending["attachments"] == ["Presupuesto 2024.txt"]
        assert pending["reasons"] == ["attaches 1 document: Presupuesto 2024.txt"]
        assert "set_voice_key" in pending["how_to_confirm"]
        assert not (home / "outbox").exists()
        action = pending["action_id"]
        no_key = err(await c.call_tool("confirm_action", {"action_id": action, "phrase": PHRASE}))
        assert "no voice key is set" in no_key
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        wrong = err(await c.call_tool("confirm_action", {"action_id": action, "phrase": "el gato se llama nube"}))
        assert "wrong voice key" in wrong
        assert ok(await c.call_tool("get_action", {"action_id": action}))["status"] == "pending_confirmation"
        assert ok(await c.call_tool("send_email", args))["replayed"] is True  # a retry does not add a second one
        done = ok(await c.call_tool("confirm_action", {"action_id": action, "phrase": "Mi perro, se llama TRUENO"}))
        assert done["status"] == "not_delivered" and done["result"]["attachments"] == ["Presupuesto 2024.txt"]
        replay = err(await c.call_tool("confirm_action", {"action_id": action, "phrase": PHRASE}))
        assert "nothing to confirm" in replay and "single-use" in replay
        after = ok(await c.call_tool("send_email", args))
        assert after["replayed"] is True and after["status"] == "not_delivered"
    [msg] = emails_in(home)
    [part] = list(msg.iter_attachments())
    assert part.get_filename() == "Presupuesto 2024.txt" and b"4.200 euros" in part.get_content().encode()


async def test_a_stranger_needs_confirmation_and_can_be_cancelled(client_for, home: Path) -> None:
    async with client_for("alice") as c:
        await seed(c)
        pending = ok(await c.call_tool("send_email", {"to": ["Ana García"], "bcc": ["Someone <x@elsewhere.example>"],
                                                      "subject": "Hola", "body": "texto"}))
        assert pending["reasons"] == ["x@elsewhere.example is not one of your contacts"]
        assert pending["recipients"][1] == {"header": "bcc", "address": "x@elsewhere.example", "name": "Someone",
                                            "contact_id": None}
        cancelled = ok(await c.call_tool("cancel_action", {"action_id": pending["action_id"]}))
        assert cancelled["status"] == "cancelled"
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        late = err(await c.call_tool("confirm_action", {"action_id": pending["action_id"], "phrase": PHRASE}))
        assert "nothing to confirm" in late
    assert not (home / "outbox").exists()


async def test_an_expired_confirmation_is_refused(client_for, runtime, home: Path) -> None:
    async with client_for("alice") as c:
        await seed(c)
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        pending = ok(await c.call_tool("send_email", {"to": ["x@elsewhere.example"], "subject": "Hola", "body": "t"}))
        rt = runtime("alice")
        rt.store.outbox_transition(rt.local_user_id(), pending["action_id"], ["pending_confirmation"],
                                   "pending_confirmation", {"expires_at": time.time() - 1})
        message = err(await c.call_tool("confirm_action", {"action_id": pending["action_id"], "phrase": PHRASE}))
        assert "expired" in message
        assert ok(await c.call_tool("get_action", {"action_id": pending["action_id"]}))["status"] == "expired"
    assert not (home / "outbox").exists()


async def test_the_target_is_checked_again_when_it_runs(client_for, home: Path) -> None:
    async with client_for("alice") as c:
        ids = await seed(c)
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        with_doc = ok(await c.call_tool("send_email", {"to": ["Ana García"], "subject": "Doc", "body": "t",
                                                       "attachments": [ids["doc"]]}))
        to_stranger = ok(await c.call_tool("send_email", {"to": ["Bruno Díaz", "x@elsewhere.example"],
                                                          "subject": "Hola", "body": "t"}))
        ok(await c.call_tool("delete_document", {"document_id": ids["doc"]}))
        ok(await c.call_tool("delete_contact", {"contact_id": ids["Bruno Díaz"]}))
        gone_doc = ok(await c.call_tool("confirm_action", {"action_id": with_doc["action_id"], "phrase": PHRASE}))
        assert gone_doc["status"] == "failed" and gone_doc["delivered"] is False
        assert gone_doc["error"] == f"document not found: {ids['doc']}"
        gone_contact = ok(await c.call_tool("confirm_action", {"action_id": to_stranger["action_id"], "phrase": PHRASE}))
        assert gone_contact["status"] == "failed"
        assert "Bruno Díaz is no longer one of your contacts" in gone_contact["error"]
    assert not (home / "outbox").exists()


# -- SMTP end to end ------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.envelopes.append(envelope)
        return "250 2.0.0 queued"


async def test_smtp_sends_for_real(client_for, home: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with client_for("alice", mailer="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                              smtp_from="Alice <alice@example.org>") as c:
            await seed(c)
            out = ok(await c.call_tool("send_email", {"to": ["Ana García"], "bcc": ["Bruno"], "subject": "Cena",
                                                      "body": "<p>¿Cenamos <b>el viernes</b>?</p>", "html": True}))
            assert out["status"] == "sent" and out["delivered"] is True and out["provider"] == "smtp"
            assert out["provider_ref"] == out["message_id"]
    finally:
        controller.stop()
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "alice@example.org"
    assert envelope.rcpt_tos == ["ana@example.com", "bruno@example.com"]
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert received["Bcc"] is None and received["Message-ID"] == out["message_id"]
    assert received.get_content_type() == "multipart/alternative"
    assert received.get_body(("plain",)).get_content().strip() == "¿Cenamos el viernes?"
    assert "<b>el viernes</b>" in received.get_body(("html",)).get_content()
    assert not (home / "outbox").exists()


# -- two users ------------------------------------------------------------------------------------


async def test_bob_cannot_touch_alices_email(client_for, home: Path) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        ids = await seed(alice)
        args = {"to": ["Ana García"], "subject": "Privado", "body": "solo para Ana", "attachments": [ids["doc"]],
                "idempotency_key": "alice-1"}
        pending = ok(await alice.call_tool("send_email", args))
        hers = pending["action_id"]
        ok(await bob.call_tool("set_voice_key", {"phrase": PHRASE}))
        for tool, extra in (("get_action", {}), ("confirm_action", {"phrase": PHRASE}), ("cancel_action", {})):
            for_hers = err(await bob.call_tool(tool, {"action_id": hers, **extra}))
            for_made_up = err(await bob.call_tool(tool, {"action_id": MADE_UP_ID, **extra}))
            assert for_hers.replace(hers, "<id>") == for_made_up.replace(MADE_UP_ID, "<id>"), tool
        # Her key, her names, her contact ids and her documents mean nothing for Bob.
        hers_doc = err(await bob.call_tool("send_email", {**args, "to": ["ana@example.com"]}))
        made_up_doc = err(await bob.call_tool("send_email", {**args, "to": ["ana@example.com"], "attachments": [MADE_UP_ID]}))
        assert hers_doc.replace(ids["doc"], "<id>") == made_up_doc.replace(MADE_UP_ID, "<id>")
        assert "no contact is named 'Ana García'" in err(await bob.call_tool("send_email", {**args, "attachments": []}))
        her_contact = err(await bob.call_tool("send_email", {"to": [ids["Ana García"]], "subject": "x", "body": "y"}))
        assert her_contact == f"contact not found: {ids['Ana García']}"
        his = ok(await bob.call_tool("send_email", {"to": ["ana@example.com"], "subject": "Privado", "body": "solo para Ana",
                                                    "idempotency_key": "alice-1"}))
        assert his["action_id"] != hers and his["replayed"] is False and his["recipients"][0]["contact_id"] is None
        assert [a["action_id"] for a in ok(await bob.call_tool("list_actions", {}))["actions"]] == [his["action_id"]]
        still = ok(await alice.call_tool("get_action", {"action_id": hers}))
        assert still["status"] == "pending_confirmation"
    assert not (home / "outbox").exists()


# -- the service directly: retries, recovery, providers --------------------------------------------


class ScriptedMailer:
    """Answers each send with the next scripted MailError, then with a receipt; counts every send."""

    provider = "fake"
    idempotent = False

    def __init__(self, *errors: MailError, sent_ref: str | None = None, lookup: bool = False) -> None:
        self.errors = list(errors)
        self.sent: list[EmailMessage] = []
        self.sent_ref = sent_ref
        self.lookup = lookup  # only some providers can look a message up

    def send(self, message: EmailMessage, *, idempotency_key: str) -> MailReceipt:
        self.sent.append(message)
        if self.errors:
            raise self.errors.pop(0)
        return MailReceipt(self.provider, f"ref-{idempotency_key[:8]}", True, "accepted")

    def find_sent(self, message_id: str) -> str | None:
        return self.sent_ref if self.lookup else None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def service(scope: UserScope, mailer: Any, clock: Clock | None = None, **kwargs: Any) -> MailService:
    clock = clock or Clock()
    return MailService(scope.user_id, contacts=lambda: scope.contacts, documents=lambda: scope.documents,
                       mailer=lambda: mailer, sleep=clock.sleep, rand=lambda: 1.0, clock=lambda: clock.now, **kwargs)


def actions_for(scope: UserScope, mail: MailService) -> ActionService:
    return ActionService(scope.user_id, scope.store, {"send_email": mail}, scope.voice_key)  # type: ignore[arg-type]


@pytest.fixture
def alice(runtime) -> UserScope:  # noqa: ANN001
    rt = runtime("alice")
    scope = rt.scope_for(rt.local_user_id())
    scope.contacts.save(name="Ana García", emails=["ana@example.com"])
    return scope


def test_transient_failures_are_retried_with_backoff(alice: UserScope) -> None:
    clock = Clock()
    mailer = ScriptedMailer(MailError("Gmail answered 503: Backend Error", retryable=True),
                            MailError("Gmail answered 429: slow down", retryable=True, retry_after=5))
    mail = service(alice, mailer, clock)
    out = actions_for(alice, mail).submit(mail.request_send(["Ana"], "Hola", "t"))
    assert out.status == "sent" and out.delivered is True and out.provider == "fake"
    assert len(mailer.sent) == 3 and clock.sleeps == [1.0, 5.0]  # full jitter (rand=1) capped; Retry-After honoured


def test_a_refusal_is_reported_with_the_providers_message(alice: UserScope) -> None:
    mailer = ScriptedMailer(MailError("Gmail answered 400: Invalid To header"))
    mail = service(alice, mailer)
    out = actions_for(alice, mail).submit(mail.request_send(["Ana"], "Hola", "t"))
    assert out.status == "failed" and out.delivered is False and out.error == "Gmail answered 400: Invalid To header"
    assert len(mailer.sent) == 1


def test_retries_stop_within_the_budget(alice: UserScope) -> None:
    clock = Clock()
    mailer = ScriptedMailer(*[MailError("SMTP answered 451 busy", retryable=True)] * 50)
    mail = service(alice, mailer, clock, budget_s=30)
    out = actions_for(alice, mail).submit(mail.request_send(["Ana"], "Hola", "t"))
    assert out.status == "failed" and "451 busy" in out.error and "gave up after" in out.error
    assert sum(clock.sleeps) <= 30 and len(mailer.sent) == len(clock.sleeps) + 1 < 50


def test_an_ambiguous_failure_is_looked_up_before_any_resend(alice: UserScope) -> None:
    found = ScriptedMailer(MailError("Gmail answered 500", retryable=True, ambiguous=True), sent_ref="gm-1", lookup=True)
    mail = service(alice, found)
    out = actions_for(alice, mail).submit(mail.request_send(["Ana"], "Hola", "t"))
    assert out.status == "sent" and out.provider_ref == "gm-1" and len(found.sent) == 1

    blind = ScriptedMailer(MailError("connection lost while sending", ambiguous=True))
    mail = service(alice, blind)
    out = actions_for(alice, mail).submit(mail.request_send(["Ana"], "Otro", "t"))
    assert out.status == "unknown" and "not sent again" in out.error and len(blind.sent) == 1
    assert out.delivered is None and out.provider == "fake"

    # Not found by the lookup is no proof it was not sent (a search index lags): not sent again either.
    unseen = ScriptedMailer(MailError("Gmail answered 500", retryable=True, ambiguous=True), lookup=True)
    mail = service(alice, unseen)
    out = actions_for(alice, mail).submit(mail.request_send(["Ana"], "Tercero", "t"))
    assert out.status == "unknown" and len(unseen.sent) == 1


def row(scope: UserScope, mail: MailService, status: str, subject: str = "Hola") -> Any:
    """An email action as a crash leaves it: written, maybe taken for sending, never finished."""
    request = mail.request_send(["Ana"], subject, "t")
    record, created = scope.store.outbox_claim(scope.user_id, NewOutbox(  # type: ignore[attr-defined]
        kind="send_email", idempotency_key=f"crash-{subject}", args_hash=args_hash("send_email", request.arguments),
        arguments=request.arguments, summary=request.summary, sensitive=(), status="queued"), 0)
    assert created
    if status == "sending":
        record = scope.store.outbox_transition(scope.user_id, record.id, ["queued"], "sending")  # type: ignore[attr-defined]
    return record


def test_recovery_sends_a_queued_email_once(alice: UserScope) -> None:
    mailer = ScriptedMailer()
    mail = service(alice, mailer)
    record = row(alice, mail, "queued")
    actions = actions_for(alice, mail)
    assert actions.recover(record).status == "sent"
    assert actions.recover(record).status == "sent"  # a second recoverer finds it done
    assert len(mailer.sent) == 1 and mailer.sent[0]["Message-ID"] == message_id_for(record.id)


def test_recovery_of_an_interrupted_send_asks_the_provider(alice: UserScope) -> None:
    found = ScriptedMailer(sent_ref="gm-42", lookup=True)
    mail = service(alice, found)
    out = actions_for(alice, mail).recover(row(alice, mail, "sending", "a"))
    assert out.status == "sent" and out.provider_ref == "gm-42" and found.sent == []

    missing = ScriptedMailer(lookup=True)  # the provider has no such message: cannot tell, so not resent
    mail = service(alice, missing)
    out = actions_for(alice, mail).recover(row(alice, mail, "sending", "b"))
    assert out.status == "unknown" and "not done again" in out.error and missing.sent == []

    smtp_like = ScriptedMailer()  # no way to ask at all
    mail = service(alice, smtp_like)
    out = actions_for(alice, mail).recover(row(alice, mail, "sending", "c"))
    assert out.status == "unknown" and smtp_like.sent == []


def test_recovery_with_the_outbox_keeps_one_copy(alice: UserScope) -> None:
    home = alice.settings.home
    mailer = OutboxMailer(home, alice.user_id)
    mail = service(alice, mailer)
    record = row(alice, mail, "sending")
    mailer.send(mail._build(record.id, record.arguments, [], "outbox"), idempotency_key=record.id)  # written, then the crash
    out = actions_for(alice, mail).recover(record)
    assert out.status == "not_delivered" and out.provider_ref == f"outbox/{alice.user_id}/{record.id}.eml"
    assert out.result["detail"] == NOT_DELIVERED
    assert len(list((home / "outbox").rglob("*.eml"))) == 1
    unwritten = row(alice, mail, "sending", "crashed before the file")  # the crash came before the write
    assert actions_for(alice, mail).recover(unwritten).status == "not_delivered"
    assert len(list((home / "outbox").rglob("*.eml"))) == 2


def test_gmail_gets_the_exact_message(alice: UserScope) -> None:
    token = ({"status": "200"}, json.dumps({"access_token": "a", "expires_in": 3600}))
    http = HttpMockSequence([
        token,
        ({"status": "200"}, json.dumps({"messages": [{"id": "orig", "threadId": "thread-9"}]})),
        ({"status": "200"}, json.dumps({"id": "sent-1", "threadId": "thread-9"})),
    ])
    info = {"refresh_token": "r", "client_id": "c", "client_secret": "s", "token_uri": "https://oauth2.googleapis.com/token",
            "scopes": [SEND_SCOPE, READ_SCOPE]}
    mail = service(alice, GmailMailer.from_authorized_user_info(info, http=http))
    out = actions_for(alice, mail).submit(mail.request_send(["Ana García"], "Re: Presupuesto", "De acuerdo.",
                                                            reply_to_message_id="CAF123@mail.gmail.com"))
    assert out.status == "sent" and out.provider == "gmail" and out.provider_ref == "sent-1"
    uri, method, body, _ = http.request_sequence[2]
    assert (method, uri.split("?")[0]) == ("POST", "https://gmail.googleapis.com/gmail/v1/users/me/messages/send")
    sent = json.loads(body)
    assert sorted(sent) == ["raw", "threadId"] and sent["threadId"] == "thread-9"
    msg = message_from_bytes(base64.urlsafe_b64decode(sent["raw"]), policy=policy.default)
    assert msg["Message-ID"] == message_id_for(out.action_id) and msg["From"] is None  # Gmail writes From itself
    assert msg["To"] == "Ana García <ana@example.com>" and msg["Subject"] == "Re: Presupuesto"
    assert msg["In-Reply-To"] == "<CAF123@mail.gmail.com>" and msg["References"] == "<CAF123@mail.gmail.com>"


def test_gmail_not_connected_says_how_and_writes_nothing(runtime, settings_for, embedder) -> None:  # noqa: ANN001
    from jarvis_mcp.bootstrap import open_runtime

    rt = open_runtime(settings_for("alice", mailer="gmail"), embedder=embedder)
    try:
        scope = rt.scope_for(rt.local_user_id())
        with pytest.raises(JarvisError) as raised:
            scope.mail.request_send(["ana@example.com"], "Hola", "t")
        assert "jarvis-mcp connect google" in str(raised.value)
        assert scope.actions.list() == []
    finally:
        rt.close()


def test_recipients_resolve_by_first_name_id_address_and_display_name(alice: UserScope) -> None:
    bruno = alice.contacts.save(name="Bruno Díaz", emails=["bruno@example.com"]).contact
    mail = service(alice, ScriptedMailer())
    request = mail.request_send(["ana", "Ana García <ANA@example.com>"], "Hola", "t",
                                cc=[bruno.id, "Pepe <pepe@bücher.example>"], bcc=["bruno@example.com"])
    recipients = request.arguments["recipients"]
    assert [(r["header"], r["address"], r["name"], r["contact_id"] is not None) for r in recipients] == [
        ("to", "ana@example.com", "Ana García", True),
        ("cc", "bruno@example.com", "Bruno Díaz", True),
        ("cc", "pepe@xn--bcher-kva.example", "Pepe", False),
    ]  # duplicates collapse into the first field that named them
    assert request.sensitive == ("pepe@xn--bcher-kva.example is not one of your contacts",)


def test_addresses_are_checked_strictly() -> None:
    assert parse_address("to", " Ana García <ana@Example.COM> ") == ("Ana García", "ana@example.com")
    for bad in ("ana@", "@example.com", "ana@example", "a b@example.com", "ana@exa_mple.com", "ñandú@example.com",
                "ana@example.com, eve@evil.example", "ana@-bad-.example", "ana@example.123"):
        with pytest.raises(InvalidInput):
            parse_address("to", bad)


def test_someone_elses_document_reads_like_a_missing_one(runtime) -> None:  # noqa: ANN001
    rt = runtime("alice")
    alice_scope = rt.scope_for(rt.local_user_id())
    bob_scope = rt.scope_for(rt.store.user_for_identity("local", "bob", "local", None))
    doc = alice_scope.documents.add("Secreto", "texto secreto de Alice").document
    mail = service(bob_scope, ScriptedMailer())
    with pytest.raises(NotFound) as hers:
        mail.request_send(["ana@example.com"], "x", "y", attachments=[doc.id])
    with pytest.raises(NotFound) as made_up:
        mail.request_send(["ana@example.com"], "x", "y", attachments=[MADE_UP_ID])
    assert str(hers.value).replace(doc.id, "<id>") == str(made_up.value).replace(MADE_UP_ID, "<id>")


def test_the_allowlist_is_checked_again_when_it_runs(alice: UserScope) -> None:
    mailer = ScriptedMailer()
    lenient = service(alice, mailer)
    request = lenient.request_send(["Ana"], "Hola", "t")
    strict = service(alice, mailer, allowlist=["@corp.example"])
    out = actions_for(alice, strict).submit(request)
    assert out.status == "failed" and "not on this server's mail allowlist" in out.error and mailer.sent == []

