"""The outbox and voice-key columns in SQLite. Every statement filters on user_id, except recovery's scan."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from jarvis_mcp.actions.ports import NewOutbox, OutboxRecord, VoiceKeyState

_COLUMNS = ("id, kind, idempotency_key, arguments, summary, sensitive, status, provider, provider_ref, result, "
            "error, attempts, created_at, updated_at, expires_at")
_SETTABLE = {"provider", "provider_ref", "result", "error", "expires_at"}


def _record(row: Sequence[Any]) -> OutboxRecord:
    (aid, kind, key, args, summary, sensitive, status, provider, ref, result, error, attempts,
     created, updated, expires) = row
    return OutboxRecord(
        id=aid, kind=kind, idempotency_key=key, arguments=json.loads(args), summary=summary,
        sensitive=tuple(json.loads(sensitive)) if sensitive else (), status=status, provider=provider,
        provider_ref=ref, result=json.loads(result) if result else None, error=error, attempts=int(attempts),
        created_at=float(created), updated_at=float(updated), expires_at=expires,
    )


class OutboxTables:
    db: Any  # adapters.sqlite.database.Database, provided by SqliteStore

    def outbox_claim(self, user_id: str, new: NewOutbox, window_s: float) -> tuple[OutboxRecord, bool]:
        now = time.time()
        # IMMEDIATE transaction: the lookup and the insert are one step, so concurrent retries serialise.
        with self.db.transaction() as conn:
            # A derived match skips actions that ended without acting (failed, cancelled, expired, or a
            # confirmation past its window): asking again after those must act, not replay them. An
            # unknown outcome is matched: it may have acted, and acting again could do it twice.
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE user_id = ? AND (idempotency_key = ? "
                "OR (args_hash = ? AND created_at >= ? AND status NOT IN ('failed', 'cancelled', 'expired') "
                "AND NOT (status = 'pending_confirmation' AND expires_at IS NOT NULL AND expires_at <= ?))) ORDER BY created_at LIMIT 1",
                (user_id, new.idempotency_key, new.args_hash, now - window_s, now),
            ).fetchone()
            if row:
                return _record(row), False
            action_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO outbox (id, user_id, kind, idempotency_key, args_hash, arguments, summary, sensitive, "
                "status, created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (action_id, user_id, new.kind, new.idempotency_key, new.args_hash, json.dumps(new.arguments),
                 new.summary, json.dumps(list(new.sensitive)) if new.sensitive else None, new.status, now, now,
                 new.expires_at),
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (action_id,)).fetchone()
        return _record(row), True

    def outbox_get(self, user_id: str, action_id: str) -> OutboxRecord | None:
        row = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE user_id = ? AND id = ?", (user_id, action_id)
        ).fetchone()
        return _record(row) if row else None

    def outbox_transition(self, user_id: str, action_id: str, from_status: Sequence[str], to_status: str,
                          fields: dict[str, Any] | None = None, *, unexpired: bool = False) -> OutboxRecord | None:
        fields = dict(fields or {})
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise ValueError(f"not settable on an outbox row: {sorted(unknown)}")
        if "result" in fields and fields["result"] is not None:
            fields["result"] = json.dumps(fields["result"])
        sets = ["status = ?", "updated_at = ?", *(f"{k} = ?" for k in fields)]
        params: list[Any] = [to_status, time.time(), *fields.values()]
        if to_status == "sending":
            sets.append("attempts = attempts + 1")
        where = f"user_id = ? AND id = ? AND status IN ({','.join('?' * len(from_status))})"
        params += [user_id, action_id, *from_status]
        if unexpired:
            where += " AND (expires_at IS NULL OR expires_at > ?)"
            params.append(time.time())
        with self.db.transaction() as conn:
            changed = conn.execute(f"UPDATE outbox SET {', '.join(sets)} WHERE {where} RETURNING id", params).fetchone()
            if not changed:
                return None
            row = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (action_id,)).fetchone()
        return _record(row)

    def outbox_list(self, user_id: str, limit: int) -> list[OutboxRecord]:
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE user_id = ? ORDER BY created_at DESC LIMIT ?", (user_id, limit)
        )
        return [_record(r) for r in rows]

    def outbox_unfinished(self, older_than: float) -> list[tuple[str, OutboxRecord]]:
        rows = self.db.conn.execute(
            f"SELECT user_id, {_COLUMNS} FROM outbox WHERE status IN ('queued', 'sending') AND updated_at < ? "
            "ORDER BY created_at",
            (older_than,),
        )
        return [(str(r[0]), _record(r[1:])) for r in rows]

    def voice_key_state(self, user_id: str) -> VoiceKeyState:
        row = self.db.conn.execute(
            "SELECT voice_key_hash, voice_key_failures, voice_key_locked_until FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return VoiceKeyState(row[0], int(row[1]), row[2]) if row else VoiceKeyState(None, 0, None)

    def set_voice_key_hash(self, user_id: str, key_hash: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE users SET voice_key_hash = ?, voice_key_failures = 0, voice_key_locked_until = NULL, "
                "updated_at = ? WHERE id = ?",
                (key_hash, time.time(), user_id),
            )

    def claim_voice_key_attempt(self, user_id: str, now: float, lock_after: int,
                                lock_seconds: float) -> tuple[VoiceKeyState, int | None]:
        # One UPDATE checks the lock and counts the attempt: a check made apart from the count is what
        # let parallel guesses all pass it. SET reads the row as it was before this statement.
        with self.db.transaction() as conn:
            rows = conn.execute(
                "UPDATE users SET voice_key_claims = voice_key_claims + 1, "
                "voice_key_failures = voice_key_failures + 1, voice_key_locked_until = "
                "CASE WHEN voice_key_failures + 1 >= ? THEN ? ELSE NULL END "
                "WHERE id = ? AND voice_key_hash IS NOT NULL "
                "AND (voice_key_locked_until IS NULL OR voice_key_locked_until <= ?) "
                "RETURNING voice_key_hash, voice_key_failures, voice_key_locked_until, voice_key_claims",
                (lock_after, now + lock_seconds, user_id, now),
            ).fetchall()
            if rows:
                key_hash, failures, locked_until, attempt = rows[0]
                return VoiceKeyState(key_hash, int(failures), locked_until), int(attempt)
            row = conn.execute(
                "SELECT voice_key_hash, voice_key_failures, voice_key_locked_until FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        return (VoiceKeyState(row[0], int(row[1]), row[2]) if row else VoiceKeyState(None, 0, None)), None

    def forgive_voice_key_failures(self, user_id: str, attempt: int, lock_after: int) -> VoiceKeyState:
        # voice_key_claims - attempt is how many were claimed after the right phrase: those stay counted.
        with self.db.transaction() as conn:
            rows = conn.execute(
                "UPDATE users SET voice_key_failures = MIN(voice_key_failures, voice_key_claims - ?), "
                "voice_key_locked_until = CASE WHEN MIN(voice_key_failures, voice_key_claims - ?) >= ? "
                "THEN voice_key_locked_until ELSE NULL END WHERE id = ? "
                "RETURNING voice_key_hash, voice_key_failures, voice_key_locked_until",
                (attempt, attempt, lock_after, user_id),
            ).fetchall()
        return VoiceKeyState(rows[0][0], int(rows[0][1]), rows[0][2]) if rows else VoiceKeyState(None, 0, None)
