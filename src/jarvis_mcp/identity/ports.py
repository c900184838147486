"""The identity toolset's port: what the authorization server and the sign-in pages keep in the store.

Secrets (tokens, codes, sessions, links, nonces) arrive here already hashed: the store never sees one.
Every `consume_*` is one atomic step, so a code, a link or a refresh token is used once even when two
requests race for it (in two processes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from jarvis_mcp.account.ports import HistoryStore, UserStore


@dataclass(frozen=True)
class GrantRecord:
    """A pending /authorize request (kind 'request') or an authorization code (kind 'code')."""

    hash: str
    kind: str
    client_id: str
    user_id: str | None
    data: str  # JSON
    expires_at: float


@dataclass(frozen=True)
class TokenRecord:
    hash: str
    kind: Literal["access", "refresh"]
    family: str
    user_id: str
    client_id: str
    scopes: str  # space-separated
    resource: str
    expires_at: float
    used_at: float | None = None
    revoked_at: float | None = None


@dataclass(frozen=True)
class SessionRecord:
    user_id: str
    auth_method: str
    expires_at: float
    signed_in_at: float = 0.0  # when the person proved who they are: approvals ask for a recent sign-in


@dataclass(frozen=True)
class IdentityRecord:
    issuer: str
    subject: str
    auth_method: str
    email: str | None
    created_at: float
    last_seen_at: float


Unlink = Literal["unlinked", "last", "missing"]


class AuthStore(Protocol):
    # -- clients registered by DCR ----------------------------------------------------------------
    def put_oauth_client(self, client_id: str, info: str) -> None: ...
    def get_oauth_client(self, client_id: str) -> str | None: ...

    # -- authorization requests and codes --------------------------------------------------------
    def put_grant(self, grant: GrantRecord) -> None: ...
    def get_grant(self, hash: str, kind: str, now: float) -> GrantRecord | None:
        """The unused, unexpired grant, without using it."""
        ...
    def consume_grant(self, hash: str, kind: str, now: float) -> GrantRecord | None:
        """Mark the grant used and return it; None when it is unknown, expired or already used."""
        ...

    # -- tokens ----------------------------------------------------------------------------------
    def add_tokens(self, tokens: list[TokenRecord], now: float) -> None: ...
    def get_token(self, hash: str) -> TokenRecord | None: ...
    def consume_refresh(self, hash: str, now: float) -> TokenRecord | None:
        """Rotate: mark the live refresh token used and return it; None if used, revoked or expired."""
        ...
    def revoke_family(self, family: str, now: float) -> int: ...

    # -- browser sessions and single-use sign-in tokens -------------------------------------------
    def put_session(self, hash: str, session: SessionRecord, now: float) -> None: ...
    def get_session(self, hash: str, now: float) -> SessionRecord | None: ...
    def revoke_session(self, hash: str, now: float) -> None: ...
    def put_sign_in_token(self, hash: str, purpose: str, data: str, expires_at: float, now: float) -> None: ...
    def consume_sign_in_token(self, hash: str, purpose: str, now: float) -> str | None:
        """The token's data, once; None when unknown, expired, used or meant for another purpose."""
        ...
    def claim_once(self, hash: str, purpose: str, expires_at: float, now: float) -> bool:
        """Record a value seen once (a signed payload that must not be replayed): False when already seen."""
        ...

    # -- identities ------------------------------------------------------------------------------
    def list_identities(self, user_id: str) -> list[IdentityRecord]: ...
    def link_identity(self, user_id: str, issuer: str, subject: str, auth_method: str, email: str | None) -> str:
        """Attach (issuer, subject) to user_id unless someone has it already: the owner's user id either way."""
        ...
    def unlink_identity(self, user_id: str, issuer: str, subject: str) -> Unlink:
        """Remove one of the user's identities, never the last one."""
        ...
    def purge_auth(self, now: float) -> int:
        """Forget expired grants, tokens, sessions and sign-in tokens."""
        ...


class SignInStore(AuthStore, UserStore, HistoryStore, Protocol):
    """What the authorization server and the pages use: their own tables, users, and the audit."""
