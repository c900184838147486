"""The email itself: addresses and Message-IDs checked strictly, and the RFC 5322 message built from the
sealed arguments of a send_email action (the same bytes whichever Mailer carries it)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.html_text import html_to_text

if TYPE_CHECKING:
    from jarvis_mcp.documents.service import Attachment

MESSAGE_ID_DOMAIN = "jarvis-mcp"
LOCAL_FROM = "Jarvis <jarvis@localhost>"

# RFC 5322 dot-atom local part (ASCII: SMTPUTF8 is not assumed) and LDH domain labels.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_NAMED = re.compile(r"^\s*(.*?)\s*<([^<>]*)>\s*$", re.S)
_MSGID = re.compile(r"^<[!-;=?-~]{1,900}@[!-;=?-~]{1,200}>$")  # printable ASCII without < > and spaces
_REPLIED = re.compile(r"^\s*(re|aw)\s*:", re.I)
CONTROLS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
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
    if CONTROLS.search(given):
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


def reply_subject(subject: str) -> str:
    """The subject of a reply: "Re: " in front, unless it already starts with Re: (or German Aw:)."""
    subject = " ".join(subject.split())
    return subject if _REPLIED.match(subject) else f"Re: {subject}".strip()


def allowed(address: str, allowlist: Sequence[str]) -> bool:
    if not allowlist:
        return True
    address = address.lower()
    return address in allowlist or ("@" + address.rpartition("@")[2]) in allowlist


def build_message(action_id: str, arguments: dict[str, Any], recipients: Sequence[Recipient], *,
                  from_address: str | None, provider: str, attachments: Sequence[Attachment] = ()) -> EmailMessage:
    msg = EmailMessage(policy=_BUILD_POLICY)
    msg["Message-ID"] = message_id_for(action_id)
    msg["Date"] = format_datetime(datetime.now(UTC), usegmt=True)
    if from_address:
        msg["From"] = from_address
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
        # The whole chain (the original's References and its Message-ID) when replying to a received email.
        msg["References"] = arguments.get("references") or arguments["reply_to"]
    body = arguments["body"]
    if arguments.get("html"):
        # The plain-text alternative, for clients that show no HTML.
        msg.set_content(html_to_text(body) + "\n")
        msg.add_alternative(body, subtype="html")
    else:
        msg.set_content(body if body.endswith("\n") else body + "\n")
    for part in attachments:
        maintype, _, subtype = part.mime_type.partition("/")
        msg.add_attachment(part.data, maintype=maintype, subtype=subtype or "octet-stream", filename=part.filename)
    return msg
