"""send_email for one user: recipients resolved and checked, attachments from the user's own documents,
the message built and handed to the configured Mailer once, through the outbox (services/actions.py).

request_send validates everything and seals the arguments (nothing is written when it raises); execute
runs later, maybe after a confirmation, so it checks the recipients and attachments again before sending.
"""

from __future__ import annotations

import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from jarvis_mcp.actions.service import ActionRequest, ExecutionResult, OutcomeUnknown, ProviderError
from jarvis_mcp.contacts.ports import ContactRecord
from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.mail.models import EmailReceipt, EmailRecipient
from jarvis_mcp.mail.ports import Mailer, MailError, MailReceipt
from jarvis_mcp.text import fold

if TYPE_CHECKING:
    from jarvis_mcp.actions.models import ActionOutcome
    from jarvis_mcp.contacts.service import ContactService
    from jarvis_mcp.documents.service import DocumentService
    from jarvis_mcp.scope import UserScope

log = logging.getLogger(__name__)

KIND = "send_email"
MAX_RECIPIENTS = 50
MAX_ATTACHMENTS = 10
MAX_SUBJECT_CHARS = 300
MAX_BODY_CHARS = 200_000
MESSAGE_ID_DOMAIN = "jarvis-mcp"
LOCAL_FROM = "Jarvis <jarvis@localhost>"
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

# RFC 5322 dot-atom local part (ASCII: SMTPUTF8 is not assumed) and LDH domain labels.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_NAMED = re.compile(r"^\s*(.*?)\s*<([^<>]*)>\s*$", re.S)
_MSGID = re.compile(r"^<[!-;=?-~]{1,900}@[!-;=?-~]{1,200}>$")  # printable ASCII without < > and spaces
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BUILD_POLICY = policy.SMTP.clone(cte_type="7bit")  # bodies quoted-printable/base64 when not plain ASCII


@dataclass(frozen=True)
class Recipient:
    header: str  # to | cc | bcc
    address: str  # addr-spec; the domain in ASCII (IDNA)
    name: str | None
    contact_id: str | None

    def sealed(self) -> dict[str, Any]:
        return {"header": self.header, "address": self.address, "name": self.name, "contact_id": self.contact_id}

    def shown(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


def message_id_for(action_id: str) -> str:
    """Deterministic, so an interrupted send can be looked up at the provider by its Message-ID."""
    return f"<{action_id}@{MESSAGE_ID_DOMAIN}>"


def parse_address(field: str, given: str) -> tuple[str | None, str]:
    """('Display Name' or None, addr-spec) from 'ana@example.com' or 'Ana <ana@example.com>'."""
    if _CONTROLS.search(given):
        raise InvalidInput(field, f"{given!r} must not contain line breaks or control characters")
    named = _NAMED.match(given)
    name, addr = (named.group(1).strip().strip('"').strip() or None, named.group(2).strip()) if named \
        else (None, given.strip())
    if name is not None and len(name) > 100:
        raise InvalidInput(field, "a display name must be at most 100 characters")
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or len(addr) > 254 or len(local) > 64:
        raise InvalidInput(field, f"{given!r} is not a valid email address")
    if not _LOCAL.match(local):
        raise InvalidInput(field, f"{given!r} is not a valid email address (the part before @ must be plain ASCII "
                                  "letters, digits and . ! # $ % & ' * + / = ? ^ _ ` { | } ~ -)")
    try:
        ascii_domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInput(field, f"{given!r} is not a valid email address (bad domain)") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise InvalidInput(field, f"{given!r} is not a valid email address (bad domain)")
    return name, f"{local}@{ascii_domain}"


def parse_message_id(given: str) -> str:
    text = given.strip()
    if not text.startswith("<"):
        text = f"<{text}>"
    if not _MSGID.match(text):
        raise InvalidInput("reply_to_message_id", "must be the Message-ID header of the email being replied to, "
                                                  "e.g. <CAF1234@mail.gmail.com>")
    return text


def allowed(address: str, allowlist: Sequence[str]) -> bool:
    if not allowlist:
        return True
    address = address.lower()
    return address in allowlist or ("@" + address.rpartition("@")[2]) in allowlist


class _Text(HTMLParser):
    """The readable text of an HTML body: the plain-text alternative for clients that show no HTML."""

    _BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    @classmethod
    def of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        parser.close()
        lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


class MailService:
    def __init__(self, user_id: str, *, contacts: Callable[[], ContactService],
                 documents: Callable[[], DocumentService], mailer: Callable[[], Mailer],
                 allowlist: Sequence[str] = (), from_address: str | None = None,
                 max_attachment_bytes: int = 10 << 20, budget_s: float = SEND_BUDGET_S,
                 sleep: Callable[[float], None] = time.sleep, rand: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.user_id = user_id
        self._contacts = contacts
        self._documents = documents
        self._mailer = mailer
        self.allowlist = tuple(a.lower() for a in allowlist)
        self.from_address = from_address
        self.max_attachment_bytes = max_attachment_bytes
        self.budget_s = budget_s
        self.sleep = sleep
        self.rand = rand
        self.clock = clock

    @classmethod
    def for_scope(cls, scope: UserScope) -> MailService:
        """Everything is looked up lazily: building the service (for the executors table) costs nothing."""
        def mailer() -> Mailer:
            if scope.mailers is None:
                raise JarvisError("no mailer is configured on this server")
            return scope.mailers(scope.user_id, lambda: scope.contacts.credentials.load("google"))

        s = scope.settings
        return cls(scope.user_id, contacts=lambda: scope.contacts, documents=lambda: scope.documents, mailer=mailer,
                   allowlist=s.mail_allowlist, from_address=s.smtp_from,
                   max_attachment_bytes=s.mail_max_attachment_bytes)

    # -- requesting -----------------------------------------------------------------------------

    def request_send(self, to: Sequence[str], subject: str, body: str, cc: Sequence[str] | None = None,
                     bcc: Sequence[str] | None = None, attachments: Sequence[str] | None = None,
                     reply_to_message_id: str | None = None, html: bool = False,
                     idempotency_key: str | None = None) -> ActionRequest:
        subject = self._subject(subject)
        body = self._body(body)
        recipients = self._recipients(to, cc, bcc)
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
            "attachments": files, "reply_to": reply_to,
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
        if _CONTROLS.search((subject or "").replace("\t", " ")):
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
        """An address (a contact's, or anyone's), a contact id, or a contact's name."""
        contacts = self._contacts()
        if "@" in text:
            name, address = parse_address(header, text)
            owners = contacts.store.contacts_by_handles(self.user_id, [address.lower()], [])
            owner = owners[0][1] if owners else None
            return Recipient(header, address, name or (owner.name if owner else None), owner.id if owner else None)
        if _is_uuid(text):
            found = contacts.store.contacts_by_id(self.user_id, [text])
            if not found:
                raise NotFound("contact", text)
            return self._contact_address(header, found[0])
        return self._contact_address(header, self._by_name(header, text, contacts))

    def _by_name(self, header: str, name: str, contacts: ContactService) -> ContactRecord:
        if len(name) > 200:
            raise InvalidInput(header, "a contact name must be at most 200 characters")
        folded = fold(name)
        found = contacts.store.contacts_by_name(self.user_id, [folded])
        matches = [] if found else contacts.store.search_contacts(self.user_id, name, None, 10)
        if not found:
            # "Ana" stands for "Ana García" when every word given is a word of that one contact's name.
            words = set(folded.split())
            found = [m.record for m in matches if words <= set(fold(m.record.name).split())]
        if len(found) > 1:
            listed = "; ".join(_candidate(c) for c in found[:10])
            raise InvalidInput(header, f"{name!r} matches {len(found)} contacts: {listed}. Give the email address "
                                       "or the contact id of the one you mean")
        if not found:
            near = "; ".join(_candidate(m.record) for m in matches[:5])
            hint = f" Did you mean: {near}?" if near else ""
            raise InvalidInput(header, f"no contact is named {name!r}.{hint} Give an email address, or save the "
                                       "contact first with save_contact")
        return found[0]

    @staticmethod
    def _contact_address(header: str, contact: ContactRecord) -> Recipient:
        if not contact.emails:
            raise InvalidInput(header, f"the contact {contact.name!r} has no email address; add one with "
                                       "save_contact or give the address")
        _, address = parse_address(header, contact.emails[0])
        return Recipient(header, address, contact.name, contact.id)

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
        return self._verdict(receipt, action_id, arguments)

    def reconcile(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult | None:
        try:
            mailer = self._mailer()
        except Exception:  # recovery goes on with the other actions; "cannot tell" is the safe answer
            log.warning("no mailer to reconcile email action %s with", action_id, exc_info=True)
            return None
        if getattr(mailer, "idempotent", False):
            # Sending again with the same key cannot duplicate it (the outbox keeps one file per action).
            try:
                return self.execute(action_id, arguments)
            except OutcomeUnknown:
                return None
            except JarvisError as exc:
                return ExecutionResult(status="failed", provider=mailer.provider, error=str(exc))
        ref = self._look_up(getattr(mailer, "find_sent", None), message_id_for(action_id))
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
        store = self._contacts().store
        current = {c.id: c for c in store.contacts_by_id(self.user_id, [r.contact_id for r in contacts])}  # type: ignore[misc]
        for r in contacts:
            c = current.get(r.contact_id)  # type: ignore[arg-type]
            if c is None or r.address.lower() not in {e.lower() for e in c.emails}:
                raise ProviderError(f"{r.name or r.address} is no longer one of your contacts with the address "
                                    f"{r.address}; nothing was sent — ask again")

    def _build(self, action_id: str, arguments: dict[str, Any], recipients: Sequence[Recipient],
               provider: str) -> EmailMessage:
        msg = EmailMessage(policy=_BUILD_POLICY)
        msg["Message-ID"] = message_id_for(action_id)
        msg["Date"] = format_datetime(datetime.now(UTC), usegmt=True)
        if self.from_address:
            msg["From"] = self.from_address
        elif provider != "gmail":
            # Gmail writes the account's own address; elsewhere a plain local default keeps the message
            # valid RFC 5322 (the outbox copy), and SMTP is configured with JARVIS_SMTP_FROM anyway.
            msg["From"] = LOCAL_FROM
        for header in ("to", "cc", "bcc"):
            who = [Address(display_name=r.name or "", addr_spec=r.address) for r in recipients if r.header == header]
            if who:
                msg[header.capitalize()] = who
        msg["Subject"] = arguments["subject"]
        if arguments.get("reply_to"):
            msg["In-Reply-To"] = arguments["reply_to"]
            msg["References"] = arguments["reply_to"]
        body = arguments["body"]
        if arguments.get("html"):
            msg.set_content(_Text.of(body))
            msg.add_alternative(body, subtype="html")
        else:
            msg.set_content(body if body.endswith("\n") else body + "\n")
        files = arguments["attachments"]
        if files:
            documents = self._documents()
            parts = [documents.attachment(f["document_id"]) for f in files]  # NotFound if deleted since
            self._check_size(sum(len(p.data) for p in parts))
            for part in parts:
                maintype, _, subtype = part.mime_type.partition("/")
                msg.add_attachment(part.data, maintype=maintype, subtype=subtype or "octet-stream",
                                   filename=part.filename)
        return msg

    def _send(self, mailer: Mailer, message: EmailMessage, action_id: str) -> MailReceipt:
        """Retries what is worth retrying (429/5xx/transient) with capped exponential backoff and full
        jitter, inside a bounded time; a send that may have gone through is never retried: it is looked up,
        and is sent when the provider has it, unknown otherwise."""
        deadline = self.clock() + self.budget_s
        find = getattr(mailer, "find_sent", None)
        attempt = 0
        while True:
            try:
                return mailer.send(message, idempotency_key=action_id)
            except MailError as exc:
                error = exc
            if error.ambiguous:
                ref = self._look_up(find, message["Message-ID"])
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
    def _look_up(find: Callable[[str], str | None] | None, message_id: str) -> str | None:
        """The provider's reference for a message it has, None when it has none or cannot say."""
        if find is None:
            return None
        try:
            return find(message_id)
        except Exception as exc:
            log.info("could not look the message up after an interrupted send: %s", exc)
            return None


def _candidate(c: ContactRecord) -> str:
    return f"{c.name} ({c.emails[0] if c.emails else 'no email'}; id {c.id})"


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False

