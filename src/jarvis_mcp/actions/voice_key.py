"""The voice key ("clave de voz"): a spoken phrase kept only as an Argon2id hash, with lockout.

Comparing phrases by embedding similarity (the seeds' idea) would accept look-alike phrases and leak
through the vectors; a slow salted hash of the normalised phrase accepts only the phrase itself.
"""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from jarvis_mcp.actions.models import VoiceKeyStatus
from jarvis_mcp.actions.ports import ActionStore, VoiceKeyState
from jarvis_mcp.errors import InvalidInput, JarvisError

LOCK_AFTER = 5
LOCK_SECONDS = 15 * 60
_HASHER = PasswordHasher()  # Argon2id, the library's RFC 9106 defaults (64 MiB, 3 passes)
_NOT_WORD = re.compile(r"[^\w\s]|_")
#: A refused claim read back unlocked means a right phrase lifted the lock meanwhile; rarely twice in a row.
_CLAIM_TRIES = 3


class VoiceKeyError(JarvisError):
    """Wrong, missing or locked voice key: the message says which and what to do."""


def normalize_phrase(phrase: str) -> str:
    """Case, accents, punctuation and spacing folded: what a speech-to-text engine varies on."""
    decomposed = unicodedata.normalize("NFKD", phrase.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", letters).split())


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _locked(state: VoiceKeyState) -> bool:
    return state.locked_until is not None and state.locked_until > time.time()


class VoiceKeyService:
    def __init__(self, user_id: str, store: ActionStore) -> None:
        self.user_id = user_id
        self.store = store

    def status(self) -> VoiceKeyStatus:
        state = self.store.voice_key_state(self.user_id)
        locked = state.locked_until is not None and state.locked_until > time.time()
        return VoiceKeyStatus(
            has_voice_key=state.hash is not None,
            locked_until=datetime.fromtimestamp(state.locked_until, UTC) if locked else None,  # type: ignore[arg-type]
            attempts_left=max(0, LOCK_AFTER - state.failures) if state.hash else None,
        )

    def set(self, phrase: str, current_phrase: str | None = None) -> VoiceKeyStatus:
        norm = normalize_phrase(phrase)
        if len(norm.split()) < 3 or len(norm.replace(" ", "")) < 12:
            raise InvalidInput("phrase", "must be at least 3 words and 12 letters, so it cannot be guessed")
        if len(norm) > 200:
            raise InvalidInput("phrase", "must be at most 200 characters")
        if self.store.voice_key_state(self.user_id).hash is not None:
            if not current_phrase:
                raise InvalidInput("current_phrase", "changing the voice key needs the current phrase")
            self.verify(current_phrase, field="current_phrase")
        self.store.set_voice_key_hash(self.user_id, _HASHER.hash(norm))
        return self.status()

    def verify(self, phrase: str, *, field: str = "phrase") -> None:
        # The attempt is counted before the hash is checked, in one atomic step of the store: however many
        # calls race (threads or processes), at most LOCK_AFTER phrases are checked per lockout window.
        for _ in range(_CLAIM_TRIES):
            state, attempt = self.store.claim_voice_key_attempt(self.user_id, time.time(), LOCK_AFTER, LOCK_SECONDS)
            if attempt is not None or state.hash is None or _locked(state):
                break
            # Refused, yet unlocked when read: a right phrase lifted the lock in between. Claim again.
        if state.hash is None:
            raise VoiceKeyError(
                "no voice key is set: ask the user to choose a secret phrase (at least 3 words) and save it "
                "with set_voice_key, or confirm through your client's confirmation dialog"
            )
        if attempt is None and _locked(state):
            raise VoiceKeyError(f"voice key locked after {LOCK_AFTER} wrong attempts until {_when(state.locked_until)}")  # type: ignore[arg-type]
        if attempt is None:
            raise VoiceKeyError(f"{field}: not checked, other attempts were changing the voice key's lock; try again")
        try:
            ok = _HASHER.verify(state.hash, normalize_phrase(phrase))
        except (VerificationError, InvalidHashError):
            ok = False
        if ok:
            self.store.forgive_voice_key_failures(self.user_id, attempt, LOCK_AFTER)
            return
        # Already counted by the claim: the state it returned says what is left.
        if _locked(state):
            raise VoiceKeyError(f"{field}: wrong voice key; locked until {_when(state.locked_until)}")
        raise VoiceKeyError(f"{field}: wrong voice key ({LOCK_AFTER - state.failures} attempts left before a lock)")
