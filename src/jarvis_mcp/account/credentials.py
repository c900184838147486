"""Provider credentials encrypted at rest (AES-256-GCM), bound to their user and provider.

The key is JARVIS_SECRET_KEY (stretched with HKDF), else a random key generated once in
JARVIS_HOME/secret.key with 0600 permissions. The user id and provider are the AEAD's associated
data, so a secret copied into another user's row (or relabelled as another provider) fails to open.
Secrets never appear in logs or error messages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from jarvis_mcp.account.ports import CredentialStore
from jarvis_mcp.config import Settings
from jarvis_mcp.errors import JarvisError

log = logging.getLogger(__name__)

_VERSION = b"J1"
_KEY_FILE = "secret.key"
_lock = threading.Lock()


class CredentialUnreadable(JarvisError):
    """Stored credentials that this server's key cannot open (key changed, or data tampered with)."""


def _derive(secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"jarvis-mcp credentials v1").derive(secret)


def _key_file(home: Path) -> bytes:
    path = home / _KEY_FILE
    with _lock:
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                # O_EXCL: two processes starting together cannot both write (and disagree on) the key.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(base64.b64encode(os.urandom(32)) + b"\n")
                log.info("generated the credential key %s", path)
        raw = path.read_bytes().strip()
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; chmod 600 it", path)
    return base64.b64decode(raw)


class Vault:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).digest()[:4]

    @classmethod
    def for_settings(cls, settings: Settings) -> Vault:
        if settings.secret_key is not None:
            return cls(_derive(settings.secret_key.get_secret_value().encode()))
        return cls(_derive(_key_file(settings.home)))

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + self.key_id + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if sealed[:2] != _VERSION:
            raise CredentialUnreadable("stored credentials are in an unknown format; connect the account again")
        if sealed[2:6] != self.key_id:
            raise CredentialUnreadable(
                "stored credentials were encrypted with another server key (JARVIS_SECRET_KEY changed?); "
                "connect the account again"
            )
        try:
            return self._aead.decrypt(sealed[6:18], sealed[18:], context.encode())
        except InvalidTag:
            raise CredentialUnreadable("stored credentials failed their integrity check; connect the account again") from None


class CredentialService:
    """One user's provider credentials: JSON objects in, JSON objects out, ciphertext in the store."""

    def __init__(self, user_id: str, store: CredentialStore, vault: Vault | Callable[[], Vault]) -> None:
        self.user_id = user_id
        self.store = store
        self._vault = vault

    @property
    def vault(self) -> Vault:
        # Built on first use: most requests never touch credentials, and the key file is read only then.
        if not isinstance(self._vault, Vault):
            self._vault = self._vault()
        return self._vault

    def _context(self, provider: str) -> str:
        return f"{self.user_id}\x1f{provider}"

    def save(self, provider: str, info: dict[str, object]) -> None:
        sealed = self.vault.seal(json.dumps(info, sort_keys=True).encode(), self._context(provider))
        self.store.put_credential(self.user_id, provider, sealed)

    def load(self, provider: str) -> dict[str, object] | None:
        sealed = self.store.get_credential(self.user_id, provider)
        if sealed is None:
            return None
        return json.loads(self.vault.open(sealed, self._context(provider)))

    def delete(self, provider: str) -> bool:
        return self.store.delete_credential(self.user_id, provider)
