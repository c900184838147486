"""The authorization server's and sign-in pages' data in the Postgres store (mixed into PostgresStore).

Rows that belong to a user (codes, tokens, sessions) are reached only through the SECURITY DEFINER
functions of resources/migrations/postgres/0010_sign_in.sql, by the hash of a secret the caller holds;
the two global tables (DCR clients, sign-in links and nonces) directly. Single use is one UPDATE ...
RETURNING in the database, atomic across every process."""

from __future__ import annotations

from typing import Any

from jarvis_mcp.adapters.postgres.database import Database
from jarvis_mcp.identity.ports import GrantRecord, IdentityRecord, SessionRecord, TokenRecord, Unlink


def _token(row: Any) -> TokenRecord:
    return TokenRecord(*row)


class AuthTables:
    db: Database

    def put_oauth_client(self, client_id: str, info: str) -> None:
        with self.db.anonymous() as conn:
            conn.execute("INSERT INTO jarvis.oauth_clients VALUES (%s, %s, extract(epoch FROM now()))",
                         (client_id, info))

    def get_oauth_client(self, client_id: str) -> str | None:
        with self.db.anonymous(write=False) as conn:
            row = conn.execute("SELECT info FROM jarvis.oauth_clients WHERE client_id = %s", (client_id,)).fetchone()
        return str(row[0]) if row else None

    def put_grant(self, grant: GrantRecord) -> None:
        with self.db.anonymous() as conn:
            conn.execute("SELECT jarvis.auth_put_grant(%s, %s, %s, %s, %s, %s)",
                         (grant.hash, grant.kind, grant.client_id, grant.user_id, grant.data, grant.expires_at))

    def get_grant(self, hash: str, kind: str, now: float) -> GrantRecord | None:
        with self.db.anonymous(write=False) as conn:
            row = conn.execute("SELECT * FROM jarvis.auth_get_grant(%s, %s, %s)", (hash, kind, now)).fetchone()
        return GrantRecord(*row) if row else None

    def consume_grant(self, hash: str, kind: str, now: float) -> GrantRecord | None:
        with self.db.anonymous() as conn:
            row = conn.execute("SELECT * FROM jarvis.auth_consume_grant(%s, %s, %s)", (hash, kind, now)).fetchone()
        return GrantRecord(*row) if row else None

    def add_tokens(self, tokens: list[TokenRecord], now: float) -> None:
        with self.db.anonymous() as conn:
            for t in tokens:
                conn.execute("SELECT jarvis.auth_add_token(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                             (t.hash, t.kind, t.family, t.user_id, t.client_id, t.scopes, t.resource, t.expires_at, now))

    def get_token(self, hash: str) -> TokenRecord | None:
        with self.db.anonymous(write=False) as conn:
            row = conn.execute("SELECT * FROM jarvis.auth_get_token(%s)", (hash,)).fetchone()
        return _token(row) if row else None

    def consume_refresh(self, hash: str, now: float) -> TokenRecord | None:
        with self.db.anonymous() as conn:
            row = conn.execute("SELECT * FROM jarvis.auth_consume_refresh(%s, %s)", (hash, now)).fetchone()
        return _token(row) if row else None

    def revoke_family(self, family: str, now: float) -> int:
        with self.db.anonymous() as conn:
            return int(conn.execute("SELECT jarvis.auth_revoke_family(%s, %s)", (family, now)).fetchone()[0])

    def put_session(self, hash: str, session: SessionRecord, now: float) -> None:
        with self.db.anonymous() as conn:
            conn.execute("SELECT jarvis.auth_put_session(%s, %s, %s, %s, %s)",
                         (hash, session.user_id, session.auth_method, session.expires_at, now))

    def get_session(self, hash: str, now: float) -> SessionRecord | None:
        with self.db.anonymous(write=False) as conn:
            row = conn.execute("SELECT * FROM jarvis.auth_get_session(%s, %s)", (hash, now)).fetchone()
        return SessionRecord(*row) if row else None

    def revoke_session(self, hash: str, now: float) -> None:
        with self.db.anonymous() as conn:
            conn.execute("SELECT jarvis.auth_revoke_session(%s, %s)", (hash, now))

    def put_sign_in_token(self, hash: str, purpose: str, data: str, expires_at: float, now: float) -> None:
        with self.db.anonymous() as conn:
            conn.execute("INSERT INTO jarvis.sign_in_tokens VALUES (%s, %s, %s, %s, NULL, %s)",
                         (hash, purpose, data, expires_at, now))

    def consume_sign_in_token(self, hash: str, purpose: str, now: float) -> str | None:
        with self.db.anonymous() as conn:
            row = conn.execute(
                "UPDATE jarvis.sign_in_tokens SET used_at = %s WHERE hash = %s AND purpose = %s AND used_at IS NULL "
                "AND expires_at > %s RETURNING data", (now, hash, purpose, now)).fetchone()
        return str(row[0]) if row else None

    def claim_once(self, hash: str, purpose: str, expires_at: float, now: float) -> bool:
        with self.db.anonymous() as conn:
            row = conn.execute(
                "INSERT INTO jarvis.sign_in_tokens VALUES (%s, %s, '{}', %s, %s, %s) ON CONFLICT (hash) DO NOTHING "
                "RETURNING hash", (hash, purpose, expires_at, now, now)).fetchone()
        return row is not None

    def list_identities(self, user_id: str) -> list[IdentityRecord]:
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                "SELECT issuer, subject, auth_method, email, created_at, last_seen_at FROM jarvis.identities "
                "WHERE user_id = %s ORDER BY created_at, issuer, subject", (user_id,)).fetchall()
        return [IdentityRecord(*r) for r in rows]

    def link_identity(self, user_id: str, issuer: str, subject: str, auth_method: str, email: str | None) -> str:
        with self.db.anonymous() as conn:
            row = conn.execute("SELECT jarvis.link_identity(%s, %s, %s, %s, %s)::text",
                               (user_id, issuer, subject, auth_method, email)).fetchone()
        return str(row[0])

    def unlink_identity(self, user_id: str, issuer: str, subject: str) -> Unlink:
        with self.db.anonymous() as conn:
            row = conn.execute("SELECT jarvis.unlink_identity(%s, %s, %s)", (user_id, issuer, subject)).fetchone()
        outcome = str(row[0])
        assert outcome in ("unlinked", "last", "missing")
        return outcome  # type: ignore[return-value]

    def purge_auth(self, now: float) -> int:
        with self.db.anonymous() as conn:
            return int(conn.execute("SELECT jarvis.auth_purge(%s)", (now - 86400,)).fetchone()[0])
