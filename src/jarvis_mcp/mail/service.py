"""send_email for one user: recipients resolved and checked, attachments from the user's own documents,
the message built (mail/message.py) and handed to the configured Mailer once, through the outbox
(actions/service.py).

request_send validates everything and seals the arguments (nothing is written when it raises); execute
runs later, maybe after a confirmation, so it checks the recipients and attachments again before sending.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from jarvis_mcp.actions.service import ActionRequest, ExecutionResult, OutcomeUnknown, ProviderError
from jarvis_mcp.errors import InvalidInput, JarvisError
from jarvis_mcp.mail.message import (
    CONTROLS,
    Recipient,
    allowed,
    build_message,
    message_id_for,
    parse_address,
    parse_message_id,
    reply_subject,
)
from jarvis_mcp.mail.models import EmailReceipt, EmailRecipient
from jarvis_mcp.mail.ports import Mailer, MailError, MailReceipt

if TYPE_CHECKING:
    from jarvis_mcp.actions.models import ActionOutcome
    from jarvis_mcp.contacts.service import ContactService
    from jarvis_mcp.documents.service import DocumentService
    from jarvis_mcp.inbox.service import InboxService

log = logging.getLogger(__name__)

KIND = "send_email"
MAX_RECIPIENTS = 50
MAX_ATTACHMENTS = 10
MAX_SUBJECT_CHARS = 300
MAX_BODY_CHARS = 200_000
#: Retries of one send stay well inside the outbox's STALE_AFTER_S, so recovery never races a live send.
SEND_BUDGET_S = 60.0
BASE_DELAY_S = 1.0
MAX_DELAY_S = 16.0
GMAIL_CONNECT_HELP = (
    "Gmail is not connected for this user. On the machine that runs the server, run "
    "`jarvis-mcp connect google --client-secrets FILE` (an OAuth client of type 'Desktop app' with the Gmail "
    "API enabled), then try again; or set JARVIS_MAILER=outbox or smtp."
)

#: (user id, loader of the user's Google credentials) -> that user's Mailer. Built by bootstrap.
MailerFactory = Callable[[str, Callable[[], "dict[str, object] | None"]], Mailer]


class MailService:
    """contacts, documents and mailer are builders, called only when a send needs them: the service is
    made for the executors table of every request, and most requests send no email."""

    def __init__(self, user_id: str, *, contacts: Callable[[], ContactService],
                 documents: Callable[[], DocumentService], mailer: Callable[[], Mailer] | None,
                 allowlist: Sequence[str] = (), from_address: str | None = None,
                 max_attachment_bytes: int = 10 << 20, budget_s: float = SEND_BUDGET_S,
                 sleep: Callable[[float], None] = time.sleep, rand: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic,
                 inbox: Callable[[], InboxService] | None = None,
                 record: Callable[[list[str], str, str], None] | None = None) -> None:
        self.user_id = user_id
        self._record = record  # (contact ids or raw addresses, action id, summary): the recipients' timelines
        self._inbox = inbox  # for replies to a received email (reply_to)
        self._contacts = contacts
        self._documents = documents
        self._build_mailer = mailer
        self._built: Mailer | None = None
        self.allowlist = tuple(a.lower() for a in allowlist)
        self.from_address = from_address
        self.max_attachment_bytes = max_attachment_bytes
        self.budget_s = budget_s
        self.sleep = sleep
        self.rand = rand
        self.clock = clock

    # -- requesting -----------------------------------------------------------------------------

    def request_send(self, to: Sequence[str] | None, subject: str | None, body: str,
                     cc: Sequence[str] | None = None, bcc: Sequence[str] | None = None,
                     attachments: Sequence[str] | None = None, reply_to_message_id: str | None = None,
                     html: bool = False, idempotency_key: str | None = None,
                     reply_to: str | None = None) -> ActionRequest:
        references = None
        if reply_to:  # a received email's id: the reply joins its thread, to its sender unless told otherwise
            if reply_to_message_id:
                raise InvalidInput("reply_to", "give reply_to (an email id) or reply_to_message_id, not both")
            if self._inbox is None:
                raise InvalidInput("reply_to", "no inbox is configured on this server (JARVIS_INBOX)")
            context = self._inbox().reply_context(reply_to)
            to = to or ([context.to] if context.to else [])
            subject = context.subject if not (subject or "").strip() else reply_subject(subject or "")
            reply_to_message_id, references = context.message_id, context.references
        subject = self._subject(subject or "")
        body = self._body(body)
        recipients = self._recipients(to or [], cc, bcc)
        files = self._attachments(attachments or [])
        reply_to = parse_message_id(reply_to_message_id) if reply_to_message_id else None
        self._mailer_ready()
        reasons = []
        if files:
            reasons.append(f"attaches {len(files)} document{'s' if len(files) > 1 else ''}: "
                           + ", ".join(f["filename"] for f in files))
        reasons += [f"{r.address} is not one of your contacts" for r in recipients if r.contact_id is None]
        arguments = {
            "recipients": [r.sealed() for r in recipients], "subject": subject, "body": body, "html": bool(html),
            "attachments": files, "reply_to": reply_to, "references": references,
        }
        return ActionRequest(kind=KIND, arguments=arguments, summary=self._summary(recipients, subject, files),
                             sensitive=tuple(reasons), idempotency_key=idempotency_key)

    def receipt(self, outcome: ActionOutcome, request: ActionRequest) -> EmailReceipt:
        args = request.arguments
        return EmailReceipt(
            **outcome.model_dump(), message_id=message_id_for(outcome.action_id),
            recipients=[EmailRecipient(**r) for r in args["recipients"]],
            attachments=[f["filename"] for f in args["attachments"]],
        )

    @staticmethod
    def _subject(subject: str) -> str:
        if CONTROLS.search((subject or "").replace("\t", " ")):
            raise InvalidInput("subject", "must be one line without control characters")
        subject = " ".join((subject or "").split())
        if not subject:
            raise InvalidInput("subject", "must not be empty")
        if len(subject) > MAX_SUBJECT_CHARS:
            raise InvalidInput("subject", f"must be at most {MAX_SUBJECT_CHARS} characters (got {len(subject)})")
        return subject

    @staticmethod
    def _body(body: str) -> str:
        if body is None:
            raise InvalidInput("body", "is required (it may be short, but not missing)")
        if len(body) > MAX_BODY_CHARS:
            raise InvalidInput("body", f"must be at most {MAX_BODY_CHARS} characters (got {len(body)})")
        if "\x00" in body:
            raise InvalidInput("body", "must not contain NUL characters")
        return body.replace("\r\n", "\n").replace("\r", "\n")

    def _recipients(self, to: Sequence[str], cc: Sequence[str] | None, bcc: Sequence[str] | None) -> list[Recipient]:
        to, cc, bcc = ([x] if isinstance(x, str) else list(x or ()) for x in (to, cc, bcc))
        if not to:
            raise InvalidInput("to", "give at least one recipient (an email address or a contact's name)")
        given = [("to", t) for t in to] + [("cc", c) for c in cc] + [("bcc", b) for b in bcc]
        if len(given) > MAX_RECIPIENTS:
            raise InvalidInput("to", f"at most {MAX_RECIPIENTS} recipients in all (to, cc and bcc)")
        out: list[Recipient] = []
        seen: set[str] = set()
        for header, text in given:
            if not isinstance(text, str) or not text.strip():
                raise InvalidInput(header, "a recipient must not be empty")
            r = self._resolve(header, text.strip())
            if r.address.lower() in seen:  # the same person twice gets one copy, in the first field named
                continue
            seen.add(r.address.lower())
            if not allowed(r.address, self.allowlist):
                raise InvalidInput(header, f"{r.address} is not on this server's mail allowlist "
                                           "(JARVIS_MAIL_ALLOWLIST); nothing was sent")
            out.append(r)
        return out

    def _resolve(self, header: str, text: str) -> Recipient:
        """An address (a contact's, or anyone's), or whom the contacts' resolver finds (id, number, name)."""
        contacts = self._contacts()
        if "@" in text:
            # Checked by mail's own rules first (ASCII local part, IDNA domain); the contact that has it,
            # if any, only names the recipient and decides whether a confirmation is needed.
            name, address = parse_address(header, text)
            owner = contacts.resolve(address, "email", field=header).contact
            return Recipient(header, address, name or (owner.name if owner else None), owner.id if owner else None)
        found = contacts.resolve(text, "email", field=header)
        _, address = parse_address(header, found.handle)
        return Recipient(header, address, found.contact.name if found.contact else None,
                         found.contact.id if found.contact else None)

    def _attachments(self, document_ids: Sequence[str]) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(document_ids))
        if len(ids) > MAX_ATTACHMENTS:
            raise InvalidInput("attachments", f"at most {MAX_ATTACHMENTS} documents per email")
        if not ids:
            return []
        documents = self._documents()
        files = []
        for document_id in ids:
            if not isinstance(document_id, str):
                raise InvalidInput("attachments", "give document ids (from list_documents), not file paths")
            info = documents.info(document_id)  # NotFound, the same for someone else's id as for a made-up one
            files.append({"document_id": info.id, "filename": info.filename, "mime_type": info.mime_type,
                          "size": info.size_bytes})
        self._check_size(sum(f["size"] for f in files))
        return files

    def _check_size(self, total: int) -> None:
        if total > self.max_attachment_bytes:
            raise InvalidInput("attachments", f"together {total} bytes, over this server's limit of "
                                              f"{self.max_attachment_bytes} bytes per email")

    def _mailer(self) -> Mailer:
        """Built on first use and kept: a Gmail client costs a discovery document and a token refresh."""
        if self._build_mailer is None:
            raise JarvisError("no mailer is configured on this server")
        if self._built is None:
            self._built = self._build_mailer()
        return self._built

    def _mailer_ready(self) -> Mailer:
        try:
            return self._mailer()
        except MailError as exc:
            raise ProviderError(str(exc)) from None

    @staticmethod
    def _summary(recipients: Sequence[Recipient], subject: str, files: Sequence[dict[str, Any]]) -> str:
        parts = []
        for header in ("to", "cc", "bcc"):
            who = [r.shown() for r in recipients if r.header == header]
            if who:
                listed = ", ".join(who[:5]) + (f" and {len(who) - 5} more" if len(who) > 5 else "")
                parts.append(listed if header == "to" else f"{header} {listed}")
        text = f"Send the email {subject!r} to {'; '.join(parts)}"
        if files:
            text += f", attaching {', '.join(f['filename'] for f in files)}"
        return text

    # -- executing ------------------------------------------------------------------------------

    def execute(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        recipients = [Recipient(**r) for r in arguments["recipients"]]
        self._recheck(recipients)
        mailer = self._mailer_ready()
        message = self._build(action_id, arguments, recipients, mailer.provider)
        receipt = self._send(mailer, message, action_id)
        self._link(action_id, arguments, recipients)
        return self._verdict(receipt, action_id, arguments)

    def _link(self, action_id: str, arguments: dict[str, Any], recipients: Sequence[Recipient]) -> None:
        if self._record is None:
            return
        try:  # the email is sent: a timeline that fails to note it must not turn that into an error
            self._record([r.contact_id or r.address for r in recipients], action_id,
                         f"{arguments.get('subject', '')} — {arguments.get('body', '')}")
        except Exception:
            log.warning("could not record email %s in the recipients' timelines", action_id, exc_info=True)

    def reconcile(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult | None:
        try:
            mailer = self._mailer()
        except Exception:  # recovery goes on with the other actions; "cannot tell" is the safe answer
            log.warning("no mailer to reconcile email action %s with", action_id, exc_info=True)
            return None
        if mailer.idempotent:
            # Sending again with the same key cannot duplicate it (the outbox keeps one file per action).
            try:
                return self.execute(action_id, arguments)
            except OutcomeUnknown:
                return None
            except JarvisError as exc:
                return ExecutionResult(status="failed", provider=mailer.provider, error=str(exc))
        ref = self._look_up(mailer, message_id_for(action_id))
        if ref is None:
            return None
        receipt = MailReceipt(mailer.provider, ref, True, "the provider has it: it was sent before the interruption")
        return self._verdict(receipt, action_id, arguments)

    @staticmethod
    def _verdict(receipt: MailReceipt, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        return ExecutionResult(
            status="sent" if receipt.delivered else "not_delivered", provider=receipt.provider,
            provider_ref=receipt.provider_ref,
            result={"message_id": message_id_for(action_id), "detail": receipt.detail,
                    "recipients": [r["address"] for r in arguments["recipients"]],
                    "attachments": [f["filename"] for f in arguments["attachments"]]},
        )

    def _recheck(self, recipients: Sequence[Recipient]) -> None:
        """Sealed earlier (maybe minutes ago, before a confirmation): is every recipient still fine?"""
        for r in recipients:
            if not allowed(r.address, self.allowlist):
                raise ProviderError(f"{r.address} is not on this server's mail allowlist (JARVIS_MAIL_ALLOWLIST); "
                                    "nothing was sent")
        contacts = [r for r in recipients if r.contact_id]
        if not contacts:
            return
        current = self._contacts().current([r.contact_id for r in contacts if r.contact_id])
        for r in contacts:
            c = current.get(r.contact_id or "")
            if c is None or r.address.lower() not in {e.lower() for e in c.emails}:
                raise ProviderError(f"{r.name or r.address} is no longer one of your contacts with the address "
                                    f"{r.address}; nothing was sent — ask again")

    def _build(self, action_id: str, arguments: dict[str, Any], recipients: Sequence[Recipient],
               provider: str) -> EmailMessage:
        files = arguments["attachments"]
        parts = []
        if files:
            documents = self._documents()
            parts = [documents.attachment(f["document_id"]) for f in files]  # NotFound if deleted since
            self._check_size(sum(len(p.data) for p in parts))
        return build_message(action_id, arguments, recipients, from_address=self.from_address, provider=provider,
                             attachments=parts)

    def _send(self, mailer: Mailer, message: EmailMessage, action_id: str) -> MailReceipt:
        """Retries what is worth retrying (429/5xx/transient) with capped exponential backoff and full
        jitter, inside a bounded time; a send that may have gone through is never retried: it is looked up,
        and is sent when the provider has it, unknown otherwise."""
        deadline = self.clock() + self.budget_s
        attempt = 0
        while True:
            try:
                return mailer.send(message, idempotency_key=action_id)
            except MailError as exc:
                error = exc
            if error.ambiguous:
                ref = self._look_up(mailer, message["Message-ID"])
                if ref is not None:
                    return MailReceipt(mailer.provider, ref, True, "sent (the provider has it, after an interrupted attempt)")
                # A lookup can prove a message was sent, never that it was not (a search index lags, or the
                # provider cannot be asked at all, as SMTP): sending again could make a second copy.
                raise OutcomeUnknown(f"{error}; not sent again, so it cannot arrive twice", provider=mailer.provider)
            if not error.retryable:
                raise ProviderError(str(error))
            delay = self.rand() * min(MAX_DELAY_S, BASE_DELAY_S * 2 ** attempt)
            if error.retry_after is not None:
                delay = max(delay, min(error.retry_after, MAX_DELAY_S))
            attempt += 1
            if self.clock() + delay > deadline:
                raise ProviderError(f"{error} (gave up after {attempt} attempt{'s' if attempt > 1 else ''})")
            log.info("mail provider %s: %s; retry %d in %.1f s", mailer.provider, error, attempt, delay)
            self.sleep(delay)

    @staticmethod
    def _look_up(mailer: Mailer, message_id: str) -> str | None:
        """The provider's reference for a message it has, None when it has none or cannot say."""
        try:
            return mailer.find_sent(message_id)
        except Exception as exc:
            log.info("could not look the message up after an interrupted send: %s", exc)
            return None
