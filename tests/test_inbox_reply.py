"""send_email(reply_to=email_id): the reply joins the received email's thread, on the outbox copy and
on the message a real SMTP server (aiosmtpd) receives; and the mistakes it refuses."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from inbox_support import build
from mcp import Client
from mcp.types import CallToolResult

THREAD = "<m1@example.com> <m2@example.org> <m3@example.com>"


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def err(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text


async def lauras_last(c: Client) -> str:
    """Laura saved as a contact (so the reply needs no confirmation); the id of her latest email."""
    ok(await c.call_tool("save_contact", {"name": "Laura Gómez", "emails": ["laura@example.com"]}))
    return ok(await c.call_tool("search_email", {"sender": "laura", "limit": 1}))["emails"][0]["id"]


def check_reply(msg: EmailMessage) -> None:
    assert msg["In-Reply-To"] == "<m3@example.com>"
    assert msg["References"] == THREAD
    assert msg["Subject"] == "Re: Revisión del presupuesto"
    assert msg["To"] == "Laura Gómez <laura@example.com>"
    assert msg.get_content().strip() == "Me parecen bien, adelante."


async def test_a_reply_joins_the_thread_in_the_outbox(client_for, home: Path, tmp_path: Path) -> None:
    async with client_for("alice", inbox=build("mbox", tmp_path / "mail")) as c:
        last = await lauras_last(c)
        out = ok(await c.call_tool("send_email", {"body": "Me parecen bien, adelante.", "reply_to": last}))
        assert out["status"] == "not_delivered" and [r["address"] for r in out["recipients"]] == ["laura@example.com"]
        # A subject given keeps the thread's "Re: " (once), and `to` may name someone else.
        again = ok(await c.call_tool("send_email", {"body": "FYI", "reply_to": last, "to": ["Laura Gómez"],
                                                    "subject": "revisión del presupuesto"}))
        assert again["status"] == "not_delivered"
    kept = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in (home / "outbox").rglob("*.eml")]
    first = next(m for m in kept if m["Message-ID"] == out["message_id"])
    check_reply(first)  # type: ignore[arg-type]
    second = next(m for m in kept if m["Message-ID"] == again["message_id"])
    assert second["Subject"] == "Re: revisión del presupuesto" and second["References"] == THREAD


async def test_reply_mistakes_are_refused_and_nothing_is_written(client_for, home: Path, tmp_path: Path) -> None:
    async with client_for("alice", inbox=build("maildir", tmp_path / "mail")) as c:
        last = await lauras_last(c)
        both = err(await c.call_tool("send_email", {"body": "x", "reply_to": last,
                                                   "reply_to_message_id": "<m3@example.com>"}))
        assert "reply_to" in both and "not both" in both
        assert "email not found" in err(await c.call_tool("send_email", {"body": "x", "reply_to": "e_bm9wZQ.0123456789abcdef"}))
        assert "subject" in err(await c.call_tool("send_email", {"body": "x", "to": ["laura@example.com"]}))
        assert "to:" in err(await c.call_tool("send_email", {"body": "x", "subject": "Hola"}))
        assert ok(await c.call_tool("list_actions", {}))["actions"] == []
    assert not (home / "outbox").exists()


class Received:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.envelopes.append(envelope)
        return "250 2.0.0 queued"


async def test_a_reply_over_smtp_carries_the_thread(client_for, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    received = Received()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with client_for("alice", inbox=build("maildir", tmp_path / "mail"), mailer="smtp",
                              smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                              smtp_from="Me <me@example.org>") as c:
            last = await lauras_last(c)
            out = ok(await c.call_tool("send_email", {"body": "Me parecen bien, adelante.", "reply_to": last}))
            assert out["status"] == "sent" and out["delivered"] is True
    finally:
        controller.stop()
    [envelope] = received.envelopes
    assert envelope.rcpt_tos == ["laura@example.com"]
    check_reply(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
