"""The outbox and the voice key's columns in the Postgres store (mixed into PostgresStore); mirrors the
SQLite store's. Every statement filters on user_id and runs under that user's claims (RLS). Status changes
are single compare-and-set UPDATEs, so two processes never both move an action out of the same state.
Recovery's cross-user scan goes through jarvis.outbox_unfinished (resources/migrations/postgres/0006)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from jarvis_mcp.actions.ports import NewOutbox, OutboxRecord, VoiceKeyState
from jarvis_mcp.adapters.postgres.database import Database, uuids

_COLUMNS = ("id::text, kind, idempotency_key, arguments, summary, sensitive, status, provider, provider_ref, result, "
            "error, attempts, created_at, updated_at, expires_at")
_SETTABLE = {"provider", "provider_ref", "result", "error", "expires_at"}
#: Finished without acting: a retry without a key must be able to ask again. Not `unknown`: that one may
#: have acted, so a retry finds it instead of doing it twice.
_DEAD = ["failed", "cancelled", "expired"]


def _record(row: Sequence[Any]) -> OutboxRecord:
    (aid, kind, key, args, summary, sensitive, status, provider, ref, result, error, attempts,
     created, updated, expires) = row
    return OutboxRecord(
        id=str(aid), kind=kind, idempotency_key=key, arguments=dict(args), summary=summary,
        sensitive=tuple(sensitive or ()), status=status, provider=provider, provider_ref=ref,
        result=dict(result) if result is not None else None, error=error, attempts=int(attempts),
        created_at=float(created), updated_at=float(updated), expires_at=float(expires) if expires is not None else None,
    )


def _state(row: Sequence[Any] | None) -> VoiceKeyState:
    if row is None:
        return VoiceKeyState(None, 0, None)
    return VoiceKeyState(row[0], int(row[1]), float(row[2]) if row[2] is not None else None)


class OutboxTables:
    db: Database

    def outbox_claim(self, user_id: str, new: NewOutbox, window_s: float) -> tuple[OutboxRecord, bool]:
        now = time.time()
        with self.db.session(user_id) as conn:
            # The user's row lock makes the lookup and the insert one step: two identical calls racing
            # (in any process) serialise here, and the second finds the first's row.
            conn.execute("SELECT 1 FROM jarvis.users WHERE id = %s FOR UPDATE", (user_id,))
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM jarvis.outbox WHERE user_id = %s AND (idempotency_key = %s "
                "OR (args_hash = %s AND created_at >= %s AND status <> ALL(%s) AND NOT (status = "
                "'pending_confirmation' AND expires_at IS NOT NULL AND expires_at <= %s))) ORDER BY created_at LIMIT 1",
                (user_id, new.idempotency_key, new.args_hash, now - window_s, _DEAD, now),
            ).fetchone()
            if row:
                return _record(row), False
            row = conn.execute(
                "INSERT INTO jarvis.outbox (id, user_id, kind, idempotency_key, args_hash, arguments, summary, "
                "sensitive, status, created_at, updated_at, expires_at) "
                f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (str(uuid.uuid4()), user_id, new.kind, new.idempotency_key, new.args_hash, Jsonb(new.arguments),
                 new.summary, list(new.sensitive) if new.sensitive else None, new.status, now, now, new.expires_at),
            ).fetchone()
        return _record(row), True

    def outbox_get(self, user_id: str, action_id: str) -> OutboxRecord | None:
        if not uuids([action_id]):
            return None
        with self.db.read(user_id) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.outbox WHERE user_id = %s AND id = %s",
                               (user_id, action_id)).fetchone()
        return _record(row) if row else None

    def outbox_transition(self, user_id: str, action_id: str, from_status: Sequence[str], to_status: str,
                          fields: dict[str, Any] | None = None, *, unexpired: bool = False) -> OutboxRecord | None:
        fields = dict(fields or {})
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise ValueError(f"not settable on an outbox row: {sorted(unknown)}")
        if not uuids([action_id]):
            return None
        if fields.get("result") is not None:
            fields["result"] = Jsonb(fields["result"])
        now = time.time()
        sets = ["status = %s", "updated_at = %s", *(f"{k} = %s" for k in fields)]
        params: list[Any] = [to_status, now, *fields.values()]
        if to_status == "sending":
            sets.append("attempts = attempts + 1")
        where = "user_id = %s AND id = %s AND status = ANY(%s)"
        params += [user_id, action_id, list(from_status)]
        if unexpired:
            where += " AND (expires_at IS NULL OR expires_at > %s)"
            params.append(now)
        # One statement: the check and the change cannot be split by another process.
        with self.db.session(user_id) as conn:
            row = conn.execute(f"UPDATE jarvis.outbox SET {', '.join(sets)} WHERE {where} RETURNING {_COLUMNS}",
                               params).fetchone()
        return _record(row) if row else None

    def outbox_list(self, user_id: str, limit: int) -> list[OutboxRecord]:
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jarvis.outbox WHERE user_id = %s ORDER BY created_at DESC LIMIT %s",
                (user_id, limit),
            ).fetchall()
        return [_record(r) for r in rows]

    def outbox_unfinished(self, older_than: float) -> list[tuple[str, OutboxRecord]]:
        # The definer function names the stale actions and nothing else; each is then read as its owner,
        # under RLS, and skipped if it moved on meanwhile.
        with self.db.anonymous() as conn:
            found = conn.execute("SELECT user_id::text, action_id::text FROM jarvis.outbox_unfinished(%s)",
                                 (older_than,)).fetchall()
        out = []
        for user_id, action_id in found:
            with self.db.session(user_id) as conn:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM jarvis.outbox WHERE user_id = %s AND id = %s "
                    "AND status IN ('queued', 'sending') AND updated_at < %s",
                    (user_id, action_id, older_than),
                ).fetchone()
            if row:
                out.append((str(user_id), _record(row)))
        return out

    def voice_key_state(self, user_id: str) -> VoiceKeyState:
        with self.db.session(user_id) as conn:
            return _state(conn.execute(
                "SELECT voice_key_hash, voice_key_failures, voice_key_locked_until FROM jarvis.users WHERE id = %s",
                (user_id,),
            ).fetchone())

    def set_voice_key_hash(self, user_id: str, key_hash: str) -> None:
        with self.db.session(user_id) as conn:
            conn.execute(
                "UPDATE jarvis.users SET voice_key_hash = %s, voice_key_failures = 0, voice_key_locked_until = NULL, "
                "updated_at = %s WHERE id = %s",
                (key_hash, time.time(), user_id),
            )

    def claim_voice_key_attempt(self, user_id: str, now: float, lock_after: int,
                                lock_seconds: float) -> tuple[VoiceKeyState, int | None]:
        with self.db.session(user_id) as conn:
            # One statement checks the lock and counts the attempt. Under READ COMMITTED a racing UPDATE
            # waits for the row and re-checks the WHERE against the committed row, so once the claim that
            # sets the lock commits, no other process's claim passes; SET reads the row as it was.
            row = conn.execute(
                "UPDATE jarvis.users SET voice_key_claims = voice_key_claims + 1, "
                "voice_key_failures = voice_key_failures + 1, voice_key_locked_until = "
                "CASE WHEN voice_key_failures + 1 >= %s THEN %s ELSE NULL END "
                "WHERE id = %s AND voice_key_hash IS NOT NULL "
                "AND (voice_key_locked_until IS NULL OR voice_key_locked_until <= %s) "
                "RETURNING voice_key_hash, voice_key_failures, voice_key_locked_until, voice_key_claims",
                (lock_after, now + lock_seconds, user_id, now),
            ).fetchone()
            if row is not None:
                return _state(row), int(row[3])
            # A new snapshot: it sees the claim that set the lock, which the UPDATE above waited for.
            return _state(conn.execute(
                "SELECT voice_key_hash, voice_key_failures, voice_key_locked_until FROM jarvis.users WHERE id = %s",
                (user_id,),
            ).fetchone()), None

    def forgive_voice_key_failures(self, user_id: str, attempt: int, lock_after: int) -> VoiceKeyState:
        # voice_key_claims - attempt is how many were claimed after the right phrase: those stay counted.
        with self.db.session(user_id) as conn:
            row = conn.execute(
                "UPDATE jarvis.users SET voice_key_failures = LEAST(voice_key_failures, voice_key_claims - %s), "
                "voice_key_locked_until = CASE WHEN LEAST(voice_key_failures, voice_key_claims - %s) >= %s "
                "THEN voice_key_locked_until ELSE NULL END WHERE id = %s "
                "RETURNING voice_key_hash, voice_key_failures, voice_key_locked_until",
                (attempt, attempt, lock_after, user_id),
            ).fetchone()
        return _state(row)
