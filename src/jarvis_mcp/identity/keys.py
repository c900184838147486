"""The sign-in pages' server key (CSRF tokens) and the hashing of every secret the store keeps.

The key is JARVIS_JWT_SECRET when set (hosted: set it, so every process behind the load balancer signs
and checks the same CSRF tokens), else JARVIS_SECRET_KEY, else derived from the key file that
account/credentials.py generates once, 0600, under JARVIS_HOME. Never logged."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from jarvis_mcp.account.credentials import _key_file
from jarvis_mcp.config import Settings


def server_key(settings: Settings) -> bytes:
    if settings.jwt_secret is not None:
        raw = settings.jwt_secret.get_secret_value().encode()
    elif settings.secret_key is not None:
        raw = settings.secret_key.get_secret_value().encode()
    else:
        raw = _key_file(settings.home)
    # A key of its own: a CSRF token can never double as a credential key or an HS256 token.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"jarvis-mcp sign-in v1").derive(raw)


def new_secret(prefix: str = "") -> str:
    """A random secret (256 bits) with a prefix that says what it is (helps secret scanners, not security)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the store keeps of a secret: its SHA-256, so a copy of the database yields nothing usable."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode().rstrip("=")
