"""What every sign-in method hands back: a proof of one identity, or a refusal safe to show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProvenIdentity:
    """What a sign-in method proved. issuer+subject is the identity's key; email only when verified."""

    issuer: str  # "email" | Google's issuer URL | "eip155:<chain_id>" | "telegram"
    subject: str  # lower-cased email | Google sub | EIP-55 checksummed address | Telegram user id
    auth_method: str  # "email" | "google" | "wallet" | "telegram"
    email: str | None = None
    display_name: str | None = None


class ProofError(Exception):
    """A sign-in proof was refused; str(e) is safe and clear enough to show the person on the page."""
