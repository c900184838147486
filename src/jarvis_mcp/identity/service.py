"""Signing a person in: a proven identity becomes a user (created, joined by a verified email, or linked to
whoever is already signed in), a browser session, and an audit entry naming the method. No web or MCP
imports: pages.py calls these in a worker thread."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.identity.keys import digest, new_secret
from jarvis_mcp.identity.models import IdentityEntry, IdentityList
from jarvis_mcp.identity.ports import IdentityRecord, SessionRecord, SignInStore
from jarvis_mcp.identity.proofs import ProofError, ProvenIdentity

SESSION_TTL_S = 12 * 3600
KNOWN_METHODS = ("email", "google", "wallet", "telegram", "local")


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    session: str  # the cookie's value; the store keeps only its hash
    linked: bool  # the identity was added to the account already signed in


class SignInService:
    def __init__(self, store: SignInStore) -> None:
        self.store = store

    def audit(self, user_id: str, event: str, method: str, status: str = "ok", error: str | None = None) -> None:
        self.store.record_action(user_id, event, {"method": method}, status, error, 0.0)

    def sign_in(self, proven: ProvenIdentity, current_user: str | None) -> SignedIn:
        """The user this proof signs in. Signed in already: the identity is linked to that account, unless it
        belongs to someone else (then refused: a proof never moves an identity between accounts). Not signed
        in: its own user, else the user with the same verified email, else a new user."""
        linked = False
        if current_user is not None:
            owner = self.store.link_identity(current_user, proven.issuer, proven.subject, proven.auth_method,
                                             proven.email)
            if owner != current_user:
                self.audit(current_user, "identity:link", proven.auth_method, "error", "belongs to another account")
                raise ProofError("this sign-in already belongs to another account; sign out and sign in with it "
                                 "to use that account")
            user_id, linked = current_user, True
            self.audit(user_id, "identity:link", proven.auth_method)
        else:
            user_id = self.store.user_for_identity(proven.issuer, proven.subject, proven.auth_method, proven.email)
        session = new_secret("jss_")
        now = time.time()
        self.store.put_session(digest(session), SessionRecord(user_id, proven.auth_method, now + SESSION_TTL_S), now)
        self.audit(user_id, "identity:sign_in", proven.auth_method)
        return SignedIn(user_id, session, linked)

    def session_user(self, session: str | None) -> SessionRecord | None:
        if not session:
            return None
        return self.store.get_session(digest(session), time.time())

    def sign_out(self, session: str, user_id: str) -> None:
        self.store.revoke_session(digest(session), time.time())
        self.audit(user_id, "identity:sign_out", "session")

    def identities(self, user_id: str) -> list[IdentityRecord]:
        return self.store.list_identities(user_id)

    def unlink(self, user_id: str, issuer: str, subject: str) -> None:
        mine = {(i.issuer, i.subject): i for i in self.store.list_identities(user_id)}
        method = mine[(issuer, subject)].auth_method if (issuer, subject) in mine else "unknown"
        outcome = self.store.unlink_identity(user_id, issuer, subject)
        if outcome == "last":
            self.audit(user_id, "identity:unlink", method, "error", "the last sign-in method")
            raise ProofError("this is your only way to sign in; link another one before removing it")
        if outcome == "missing":
            raise ProofError("no such sign-in method on your account")
        self.audit(user_id, "identity:unlink", method)

    def new_nonce(self, purpose: str, data: str, ttl_s: float) -> str:
        """A single-use value (SIWE nonce, OIDC state) kept hashed in the store."""
        nonce = new_secret().replace("-", "").replace("_", "")[:32]
        now = time.time()
        self.store.put_sign_in_token(digest(nonce), purpose, data, now + ttl_s, now)
        return nonce

    def use_nonce(self, purpose: str, nonce: str) -> str | None:
        return self.store.consume_sign_in_token(digest(nonce), purpose, time.time())

    def claim_once(self, purpose: str, value: str, ttl_s: float) -> bool:
        now = time.time()
        return self.store.claim_once(digest(f"{purpose}:{value}"), purpose, now + ttl_s, now)


def mask(identity: IdentityRecord) -> str:
    """What the identity is, shown without handing out the whole subject: a******@example.com, 0x12…abcd."""
    value = identity.email or identity.subject
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}{'*' * max(1, len(local) - 1)}@{domain}"
    if value.startswith("0x") and len(value) > 10:
        return f"{value[:6]}…{value[-4:]}"
    return f"{value[:2]}{'*' * max(1, len(value) - 4)}{value[-2:]}" if len(value) > 4 else "*" * len(value)


class IdentityService:
    """One user's identities, for the identity toolset."""

    def __init__(self, user_id: str, store: SignInStore) -> None:
        self.user_id = user_id
        self.store = store

    def list(self, method: str | None = None) -> IdentityList:
        if method is not None and method.strip().lower() not in KNOWN_METHODS:
            raise InvalidInput("method", f"must be one of {', '.join(KNOWN_METHODS)}")
        wanted = method.strip().lower() if method else None
        entries = [IdentityEntry(method=i.auth_method, subject=mask(i),
                                 linked_at=datetime.fromtimestamp(i.created_at, UTC),
                                 last_used_at=datetime.fromtimestamp(i.last_seen_at, UTC))
                   for i in self.store.list_identities(self.user_id) if wanted is None or i.auth_method == wanted]
        return IdentityList(identities=entries, count=len(entries))
