"""The authorization server's and sign-in pages' data in the SQLite store (mixed into SqliteStore).

Single use is one conditional UPDATE ... RETURNING inside an IMMEDIATE transaction: of two racing
requests (threads or processes) exactly one gets the row back."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from jarvis_mcp.identity.ports import GrantRecord, IdentityRecord, SessionRecord, TokenRecord, Unlink

if TYPE_CHECKING:
    from jarvis_mcp.adapters.sqlite.database import Database

_GRANT = "hash, kind, client_id, user_id, data, expires_at"
_TOKEN = "hash, kind, family, user_id, client_id, scopes, resource, expires_at, used_at, revoked_at"


def _token(row: Any) -> TokenRecord:
    return TokenRecord(*row)


class AuthTables:
    db: Database

    def put_oauth_client(self, client_id: str, info: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO oauth_clients VALUES (?, ?, ?)", (client_id, info, time.time()))

    def get_oauth_client(self, client_id: str) -> str | None:
        row = self.db.conn.execute("SELECT info FROM oauth_clients WHERE client_id = ?", (client_id,)).fetchone()
        return str(row[0]) if row else None

    def put_grant(self, grant: GrantRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute(f"INSERT INTO oauth_grants ({_GRANT}) VALUES (?, ?, ?, ?, ?, ?)",
                         (grant.hash, grant.kind, grant.client_id, grant.user_id, grant.data, grant.expires_at))

    def get_grant(self, hash: str, kind: str, now: float) -> GrantRecord | None:
        row = self.db.conn.execute(
            f"SELECT {_GRANT} FROM oauth_grants WHERE hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?",
            (hash, kind, now)).fetchone()
        return GrantRecord(*row) if row else None

    def consume_grant(self, hash: str, kind: str, now: float) -> GrantRecord | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                f"UPDATE oauth_grants SET used_at = ? WHERE hash = ? AND kind = ? AND used_at IS NULL "
                f"AND expires_at > ? RETURNING {_GRANT}", (now, hash, kind, now)).fetchone()
        return GrantRecord(*row) if row else None

    def add_tokens(self, tokens: list[TokenRecord], now: float) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                f"INSERT INTO oauth_tokens ({_TOKEN}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(t.hash, t.kind, t.family, t.user_id, t.client_id, t.scopes, t.resource, t.expires_at,
                  t.used_at, t.revoked_at, now) for t in tokens])

    def get_token(self, hash: str) -> TokenRecord | None:
        row = self.db.conn.execute(f"SELECT {_TOKEN} FROM oauth_tokens WHERE hash = ?", (hash,)).fetchone()
        return _token(row) if row else None

    def consume_refresh(self, hash: str, now: float) -> TokenRecord | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                f"UPDATE oauth_tokens SET used_at = ? WHERE hash = ? AND kind = 'refresh' AND used_at IS NULL "
                f"AND revoked_at IS NULL AND expires_at > ? RETURNING {_TOKEN}", (now, hash, now)).fetchone()
        return _token(row) if row else None

    def revoke_family(self, family: str, now: float) -> int:
        with self.db.transaction() as conn:
            conn.execute("UPDATE oauth_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                         (now, family))
            return int(conn.changes())

    def put_session(self, hash: str, session: SessionRecord, now: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO web_sessions VALUES (?, ?, ?, ?, NULL, ?)",
                         (hash, session.user_id, session.auth_method, session.expires_at, now))

    def get_session(self, hash: str, now: float) -> SessionRecord | None:
        row = self.db.conn.execute(
            "SELECT user_id, auth_method, expires_at, created_at FROM web_sessions WHERE hash = ? AND revoked_at IS NULL "
            "AND expires_at > ?", (hash, now)).fetchone()
        return SessionRecord(*row) if row else None

    def revoke_session(self, hash: str, now: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE web_sessions SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL", (now, hash))

    def put_sign_in_token(self, hash: str, purpose: str, data: str, expires_at: float, now: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO sign_in_tokens VALUES (?, ?, ?, ?, NULL, ?)", (hash, purpose, data, expires_at, now))

    def consume_sign_in_token(self, hash: str, purpose: str, now: float) -> str | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                "UPDATE sign_in_tokens SET used_at = ? WHERE hash = ? AND purpose = ? AND used_at IS NULL "
                "AND expires_at > ? RETURNING data", (now, hash, purpose, now)).fetchone()
        return str(row[0]) if row else None

    def claim_once(self, hash: str, purpose: str, expires_at: float, now: float) -> bool:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO sign_in_tokens VALUES (?, ?, '{}', ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
                         (hash, purpose, expires_at, now, now))
            return bool(conn.changes())

    def list_identities(self, user_id: str) -> list[IdentityRecord]:
        rows = self.db.conn.execute(
            "SELECT issuer, subject, auth_method, email, created_at, last_seen_at FROM identities "
            "WHERE user_id = ? ORDER BY created_at, issuer, subject", (user_id,))
        return [IdentityRecord(*r) for r in rows]

    def link_identity(self, user_id: str, issuer: str, subject: str, auth_method: str, email: str | None) -> str:
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (issuer, subject) DO NOTHING",
                         (issuer, subject, user_id, auth_method, email.lower() if email else None, now, now))
            row = conn.execute("SELECT user_id FROM identities WHERE issuer = ? AND subject = ?",
                               (issuer, subject)).fetchone()
        return str(row[0])

    def unlink_identity(self, user_id: str, issuer: str, subject: str) -> Unlink:
        with self.db.transaction() as conn:
            count = conn.execute("SELECT count(*) FROM identities WHERE user_id = ?", (user_id,)).fetchone()[0]
            mine = conn.execute("SELECT 1 FROM identities WHERE user_id = ? AND issuer = ? AND subject = ?",
                                (user_id, issuer, subject)).fetchone()
            if not mine:
                return "missing"
            if count <= 1:
                return "last"
            conn.execute("DELETE FROM identities WHERE user_id = ? AND issuer = ? AND subject = ?",
                         (user_id, issuer, subject))
        return "unlinked"

    def purge_auth(self, now: float) -> int:
        removed = 0
        with self.db.transaction() as conn:
            for table in ("oauth_grants", "oauth_tokens", "web_sessions", "sign_in_tokens"):
                conn.execute(f"DELETE FROM {table} WHERE expires_at < ?", (now - 86400,))
                removed += int(conn.changes())
        return removed
