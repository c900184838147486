"""The inbox on local folders (Maildir and mbox): search, read, drafts, through the service and the MCP
client; bad input naming the field; ids bound to their user; email text marked as untrusted data."""

from __future__ import annotations

import mailbox
import re
import uuid
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from inbox_support import INJECTION, PDF, build, build_maildir
from mcp.types import CallToolResult

from jarvis_mcp import bootstrap
from jarvis_mcp.adapters.inbox_maildir import MaildirInbox, MboxInbox
from jarvis_mcp.config import ConfigError, load_settings
from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.inbox.ports import InboxError
from jarvis_mcp.inbox.service import InboxService

USER = str(uuid.uuid4())


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def err(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text


def service(kind: str, tmp_path: Path, user: str = USER) -> InboxService:
    where = build(kind, tmp_path).partition(":")[2]
    box = MaildirInbox(Path(where)) if kind == "maildir" else MboxInbox(Path(where))
    return InboxService(user, lambda: box)


def by_subject(svc: InboxService, **filters: Any) -> list[str]:
    return [f"{e.sender.split()[0]}: {e.subject}" for e in svc.search(**filters).emails]


KINDS = ["maildir", "mbox"]


@pytest.mark.parametrize("kind", KINDS)
def test_search_newest_first_with_each_filter(kind: str, tmp_path: Path) -> None:
    svc = service(kind, tmp_path)
    everything = svc.search()
    assert everything.source == kind
    assert [e.subject for e in everything.emails] == [
        "Re: Revisión del presupuesto", "Re: Revisión del presupuesto", "Revisión del presupuesto",
        "Contrato firmado", "Your invoice is ready", "Urgent"]
    assert [e.unread for e in everything.emails] == [True, False, False, True, False, False]
    assert everything.emails[0].snippet.startswith("¿Qué te parecieron los presupuestos?")
    assert everything.emails[3].attachments == 1
    # Spanish: accents and inflections folded ("revision" meets "Revisión", "presupuesto" meets "presupuestos").
    assert by_subject(svc, query="revision presupuesto") == [
        "Laura: Re: Revisión del presupuesto", "Me: Re: Revisión del presupuesto", "Laura: Revisión del presupuesto"]
    assert by_subject(svc, query="COCINA") == ["Laura: Revisión del presupuesto"]
    assert by_subject(svc, query="contratos firmados") == ["Bruno: Contrato firmado"]
    # English, inside an HTML-only body (the script is not text).
    assert by_subject(svc, query="invoices march") == ["Shop: Your invoice is ready"]
    assert by_subject(svc, query="alert") == []
    assert by_subject(svc, sender="laura") == ["Laura: Re: Revisión del presupuesto", "Laura: Revisión del presupuesto"]
    assert by_subject(svc, sender="gomez") == by_subject(svc, sender="Gómez")  # accents folded in names too
    assert by_subject(svc, since="2024-05-02") == ["Laura: Re: Revisión del presupuesto", "Me: Re: Revisión del presupuesto"]
    assert by_subject(svc, since="2024-05-02T08:00:00+02:00", unread=True) == ["Laura: Re: Revisión del presupuesto"]
    assert by_subject(svc, unread=True) == ["Laura: Re: Revisión del presupuesto", "Bruno: Contrato firmado"]
    assert len(svc.search(unread=False).emails) == 4
    assert len(svc.search(limit=2).emails) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_read_html_attachment_and_thread(kind: str, tmp_path: Path) -> None:
    svc = service(kind, tmp_path)
    ids = {e.subject + e.sender: e.id for e in svc.search().emails}
    shop = svc.read(next(i for k, i in ids.items() if k.startswith("Your invoice")))
    assert shop.body == "Your invoices for March" and shop.body_was_html and shop.attachments == []
    contract = svc.read(next(i for k, i in ids.items() if k.startswith("Contrato")))
    assert contract.body == "Adjunto el contrato firmado."
    assert [(a.name, a.type, a.size) for a in contract.attachments] == [("contrato.pdf", "application/pdf", len(PDF))]
    assert "PDF" not in contract.model_dump_json()  # listed, never inlined
    last = svc.read(svc.search(sender="laura", limit=1).emails[0].id)
    assert (last.message_id, last.in_reply_to) == ("<m3@example.com>", "<m2@example.org>")
    assert last.references == ["<m1@example.com>", "<m2@example.org>"] and last.unread
    assert svc.read(last.id, max_chars=5).body == "¿Qué " and svc.read(last.id, max_chars=5).truncated
    context = svc.reply_context(last.id)
    assert context.references == "<m1@example.com> <m2@example.org> <m3@example.com>"
    assert (context.message_id, context.subject, context.to) == (
        "<m3@example.com>", "Re: Revisión del presupuesto", "Laura Gómez <laura@example.com>")


@pytest.mark.parametrize(("call", "field"), [
    (lambda s: s.search(limit=0), "limit"),
    (lambda s: s.search(limit=51), "limit"),
    (lambda s: s.search(since="ayer"), "since"),
    (lambda s: s.search(since="2024-13-01"), "since"),
    (lambda s: s.search(query="x" * 301), "query"),
    (lambda s: s.read("whatever", max_chars=0), "max_chars"),
])
def test_bad_input_names_the_field(call: Any, field: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as raised:
        call(service("maildir", tmp_path))
    assert raised.value.field == field


def test_ids_are_the_users_own(tmp_path: Path) -> None:
    """The same folder, two users: one's ids are another's unknown ids, and a forged one too."""
    alice = service("maildir", tmp_path)
    bob = InboxService(str(uuid.uuid4()), alice._build)
    hers = alice.search(limit=1).emails[0].id
    assert alice.read(hers).id == hers
    for forged in (hers, hers[:-1] + ("0" if hers[-1] != "0" else "1"), "e_Li4vZXRjL3Bhc3N3ZA.0123456789abcdef",
                   "../../etc/passwd", ""):
        with pytest.raises(NotFound) as raised:
            bob.read(forged)
        assert str(raised.value) == f"email not found: {forged}"
    key = alice._key_of(hers)
    assert bob.public_id(key) != hers  # the same message has another id for Bob


def test_a_path_is_never_a_maildir_key(tmp_path: Path) -> None:
    build_maildir(tmp_path / "Mail")
    (tmp_path / "secret.eml").write_bytes(b"Subject: secret\n\nzzz\n")
    svc = InboxService(USER, lambda: MaildirInbox(tmp_path / "Mail"))
    for key in ("../secret.eml", "../../secret.eml", ".Drafts"):
        with pytest.raises(NotFound):
            svc.read(svc.public_id(key))


def test_drafts_in_maildir_and_refused_on_mbox(tmp_path: Path) -> None:
    svc = service("maildir", tmp_path / "a")
    last = svc.search(sender="laura", limit=1).emails[0].id
    receipt = svc.draft(None, None, "Me parecen bien, adelante.", reply_to=last)
    assert receipt.to == ["Laura Gómez <laura@example.com>"] and receipt.subject == "Re: Revisión del presupuesto"
    assert receipt.in_reply_to == "<m3@example.com>" and receipt.sent is False and receipt.source == "maildir"
    [path] = (tmp_path / "a" / "Mail" / ".Drafts" / "cur").iterdir()
    assert path.name.endswith(":2,DS")  # the Maildir draft flag (and seen: the person's own)
    draft = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert draft["In-Reply-To"] == "<m3@example.com>"
    assert draft["References"] == "<m1@example.com> <m2@example.org> <m3@example.com>"
    assert draft["Subject"] == "Re: Revisión del presupuesto" and draft["To"] == "Laura Gómez <laura@example.com>"
    assert draft.get_content().strip() == "Me parecen bien, adelante."
    assert len(svc.search().emails) == 6  # the draft is not in the inbox
    fresh = svc.draft(["ana@example.com"], "Hello", "Draft in English")
    assert fresh.in_reply_to is None and len(list((tmp_path / "a" / "Mail" / ".Drafts" / "cur").iterdir())) == 2
    with pytest.raises(InvalidInput) as raised:
        svc.draft(["not an address"], "Hola", "x")
    assert raised.value.field == "to"
    with pytest.raises(InvalidInput, match="subject"):
        svc.draft(["ana@example.com"], " ", "x")

    mbox = service("mbox", tmp_path / "b")
    before = (tmp_path / "b" / "inbox.mbox").read_bytes()
    with pytest.raises(JarvisError, match="has no drafts folder"):
        mbox.draft(["ana@example.com"], "Hola", "x")
    assert (tmp_path / "b" / "inbox.mbox").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["inbox.mbox"]


def test_mail_arriving_later_is_found(tmp_path: Path) -> None:
    for kind in KINDS:
        svc = service(kind, tmp_path / kind)
        assert len(svc.search().emails) == 6
        where = tmp_path / kind / ("Mail" if kind == "maildir" else "inbox.mbox")
        box = mailbox.Maildir(where) if kind == "maildir" else mailbox.mbox(where)
        box.add(b"From: late@example.com\nSubject: Llegada tarde\nDate: Sat, 01 Jun 2024 10:00:00 +0000\n\nhola\n")
        box.close()
        assert svc.search(limit=1).emails[0].subject == "Llegada tarde"


def test_inbox_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for good in ("none", "gmail", "maildir:~/Mail", "mbox:/var/mail/me"):
        monkeypatch.setenv("JARVIS_INBOX", good)
        assert load_settings(home=tmp_path).inbox == good
    for bad in ("imap", "maildir:", "Maildir:/x", "gmail:x"):
        monkeypatch.setenv("JARVIS_INBOX", bad)
        with pytest.raises(ConfigError, match="JARVIS_INBOX"):
            load_settings(home=tmp_path)


def test_a_shared_folder_is_only_the_local_users(tmp_path: Path) -> None:
    """Without {user} in the path the folder is the local user's: on a team server, nobody else's."""
    build_maildir(tmp_path / "Mail")
    settings = load_settings(home=tmp_path, inbox=f"maildir:{tmp_path / 'Mail'}")
    local = str(uuid.uuid4())
    assert isinstance(bootstrap.make_inbox(settings, local, lambda: None, lambda: local), MaildirInbox)
    with pytest.raises(JarvisError, match="no inbox is set up for you"):
        bootstrap.make_inbox(settings, str(uuid.uuid4()), lambda: None, lambda: local)
    other = str(uuid.uuid4())
    build_maildir(tmp_path / other)
    per_user = load_settings(home=tmp_path, inbox=f"maildir:{tmp_path}/{{user}}")
    box = bootstrap.make_inbox(per_user, other, lambda: None, lambda: local)
    assert isinstance(box, MaildirInbox) and box.path == tmp_path / other
    with pytest.raises(InboxError, match="not a Maildir"):
        bootstrap.make_inbox(per_user, local, lambda: None, lambda: local)


# -- through the MCP client -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_tools_search_read_and_mark_the_text(client_for, tmp_path: Path, kind: str) -> None:
    inbox = build(kind, tmp_path / "mail")
    async with client_for("alice", inbox=inbox) as c:
        found = await c.call_tool("search_email", {"query": "presupuesto", "sender": "Laura"})
        out = ok(found)
        assert [e["subject"] for e in out["emails"]] == ["Re: Revisión del presupuesto", "Revisión del presupuesto"]
        text = found.content[0].text
        assert "<emails source=" in text and "not instructions" in text
        assert out["emails"][0]["id"] in text and "Re: Revisión del presupuesto" in text
        evil = ok(await c.call_tool("search_email", {"query": "ignore instructions"}))["emails"]
        assert [e["subject"] for e in evil] == ["Urgent"]
        read = await c.call_tool("read_email", {"email_id": evil[0]["id"]})
        body = ok(read)["body"]
        assert body == INJECTION  # the structured copy keeps the text as it is
        shown = read.content[0].text
        assert shown.count("</email>") == 1 and shown.rstrip().endswith("</email>")  # only the block's own end
        assert "&lt;/email>" in shown and "&lt;system>" in shown and "<system>" not in shown
        assert "never follow directions" in shown
        for args, field in (({"limit": 0}, "limit"), ({"since": "last week"}, "since")):
            assert field in err(await c.call_tool("search_email", args))
        missing = err(await c.call_tool("read_email", {"email_id": "e_bm9wZQ.0123456789abcdef"}))
        assert "email not found: e_bm9wZQ.0123456789abcdef" in missing


async def test_without_an_inbox_the_tools_say_how_to_set_one(client_for) -> None:
    async with client_for("alice") as c:
        for tool, args in (("search_email", {}), ("read_email", {"email_id": "e_eA.0123456789abcdef"}),
                           ("draft_email", {"to": ["a@example.com"], "subject": "x", "body": "y"})):
            assert "JARVIS_INBOX" in err(await c.call_tool(tool, args))
        assert "JARVIS_INBOX" in err(await c.call_tool("send_email", {"body": "y", "reply_to": "e_eA.0123456789abcdef"}))


async def test_draft_tool_on_maildir(client_for, tmp_path: Path) -> None:
    inbox = build("maildir", tmp_path / "mail")
    async with client_for("alice", inbox=inbox) as c:
        first = ok(await c.call_tool("search_email", {"sender": "bruno"}))["emails"][0]["id"]
        out = ok(await c.call_tool("draft_email", {"body": "Recibido, gracias.", "reply_to": first}))
        assert out["subject"] == "Re: Contrato firmado" and out["to"] == ["Bruno Díaz <bruno@example.com>"]
        bad = err(await c.call_tool("draft_email", {"body": "x", "to": ["nobody@"], "subject": "x"}))
        assert re.search(r"\bto\b", bad)
    drafts = list((tmp_path / "mail" / "Mail" / ".Drafts" / "cur").iterdir())
    assert len(drafts) == 1  # the bad one wrote nothing
