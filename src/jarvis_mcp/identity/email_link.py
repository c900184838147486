"""The email method: a single-use sign-in link valid 10 minutes, sent through the configured mailer (on the
embedded default, written to the outbox folder under JARVIS_HOME), throttled per address and per client IP."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from jarvis_mcp.account.ports import Limit, Limiter
from jarvis_mcp.identity.keys import digest, new_secret
from jarvis_mcp.identity.ports import SignInStore
from jarvis_mcp.identity.proofs import ProofError, ProvenIdentity
from jarvis_mcp.mail.ports import Mailer

LINK_TTL_S = 600
PURPOSE = "email"
ISSUER = "email"
#: The outbox folder sign-in links go to (no user exists yet when one is sent): a fixed id, not a user's.
MAILBOX_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "jarvis-mcp:sign-in"))
PER_ADDRESS = (Limit("minute", 3, "sign-in links per address per minute"),
               Limit("day", 20, "sign-in links per address per day"))
PER_IP = (Limit("minute", 10, "sign-in links per client address per minute"),
          Limit("day", 200, "sign-in links per client address per day"))
_ADDRESS = re.compile(r"^[^@\s<>,;\"()\[\]\\]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class LinkSent:
    address: str
    delivered: bool
    outbox_path: Path | None  # where the message was written when nothing was delivered


def normalize(address: str) -> str:
    address = address.strip().lower()
    if len(address) > 254 or not _ADDRESS.match(address):
        raise ProofError("that is not an email address (e.g. ana@example.com)")
    return address


class EmailLinks:
    def __init__(self, store: SignInStore, limiter: Limiter, mailer: Callable[[], Mailer], *, issuer: str,
                 sender: str, home: Path) -> None:
        self.store = store
        self.limiter = limiter
        self.mailer = mailer
        self.issuer = issuer
        self.sender = sender
        self.home = home

    def send(self, raw_address: str, client_ip: str, next_url: str, requested_by: str | None = None) -> LinkSent:
        """requested_by: the user signed in where the link was asked for. Only that same signed-in user may
        link the address by it: a link someone mailed to a victim must never attach to the victim's account."""
        address = normalize(raw_address)
        # The client's address first: one client spraying many addresses is stopped without charging theirs.
        for key, name, limits in ((f"ip:{client_ip}", "signin_ip", PER_IP),
                                  (f"email:{digest(address)}", "signin_email", PER_ADDRESS)):
            decision = self.limiter.hit(key, name, 1, limits)
            if not decision.allowed:
                wait = max(1, int(decision.reset_at - time.time()))
                raise ProofError(f"too many sign-in links requested; try again in {wait} seconds")
        token = new_secret("jml_")
        now = time.time()
        self.store.put_sign_in_token(digest(token), PURPOSE, json.dumps({"email": address, "next": next_url, "by": requested_by}),
                                     now + LINK_TTL_S, now)
        link = f"{self.issuer}/signin/email/verify?token={token}"
        receipt = self.mailer().send(self._message(address, link), idempotency_key=f"signin-{uuid.uuid4().hex}")
        path = None if receipt.delivered or not receipt.provider_ref else self.home / receipt.provider_ref
        return LinkSent(address, receipt.delivered, path)

    def _message(self, address: str, link: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = address
        msg["Subject"] = "Your JARVIS sign-in link / Tu enlace para entrar en JARVIS"
        msg["Message-ID"] = make_msgid(domain=urlsplit(self.issuer).hostname or "localhost")
        msg.set_content(
            f"Open this link to sign in to JARVIS (valid 10 minutes, once):\n{link}\n\n"
            f"Abre este enlace para entrar en JARVIS (válido 10 minutos, una sola vez):\n{link}\n\n"
            "If you did not ask for it, ignore this message. / Si no lo pediste, ignora este mensaje.\n")
        return msg

    def verify(self, token: str) -> tuple[ProvenIdentity, str, str | None]:
        """The proven address, where to go next and who asked for it; once per link, whatever the concurrency."""
        data = self.store.consume_sign_in_token(digest(token), PURPOSE, time.time()) if token else None
        if data is None:
            raise ProofError("this sign-in link has expired or was already used; ask for a new one")
        parsed = json.loads(data)
        address = parsed["email"]
        return (ProvenIdentity(ISSUER, address, "email", email=address), parsed.get("next") or "/account/identities",
                parsed.get("by"))
