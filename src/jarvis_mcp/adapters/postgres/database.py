"""The connection pool, the caller's claims on every transaction, and the start-up checks.

The pool is synchronous: the store's callers are the services, which the MCP SDK runs in worker threads,
so a thread-safe sync pool serves the same concurrency without bridging event loops.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from jarvis_mcp.config import ConfigError

CONNECT_TIMEOUT_S = 10


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(unparsable URL)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{parts.get('user') or '?'}@{host}:{port}/{parts.get('dbname') or '?'}"


def uuids(values: Sequence[str]) -> list[str]:
    """The values that can be ids at all; anything else matches nothing, as in the SQLite store."""
    out = []
    for v in values:
        try:
            out.append(str(uuid.UUID(v)))
        except (ValueError, TypeError, AttributeError):
            continue
    return out


def claims(user_id: str) -> str:
    # uuid.UUID rejects anything that is not a user id, so the claims always parse in auth.uid().
    return json.dumps({"sub": str(uuid.UUID(user_id))})


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.where = describe(url)
        try:
            # A direct connection first: the pool would only report a timeout, not why.
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S).close()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"JARVIS_DATABASE_URL: cannot connect to {self.where}: {reason}") from None
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=False, name="jarvis",
                                   kwargs={"connect_timeout": CONNECT_TIMEOUT_S})
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout:
            self.pool.close()
            raise ConfigError(f"JARVIS_DATABASE_URL: {self.where} accepted one connection but the pool could not "
                              "open; is the server at its connection limit?") from None

    @contextmanager
    def session(self, user_id: str) -> Iterator[psycopg.Connection]:
        """One transaction acting as that user: Row Level Security shows it that user's rows only.

        The claims are transaction-local, so a pooled connection never carries one user's claims into
        the next user's work; committed on success, rolled back on any exception.
        """
        with self.pool.connection() as conn:
            conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (claims(user_id),))
            yield conn

    @contextmanager
    def anonymous(self) -> Iterator[psycopg.Connection]:
        """A transaction with no claims: only global tables and the SECURITY DEFINER functions answer."""
        with self.pool.connection() as conn:
            yield conn

    def check_schema(self, expected_version: int | None) -> None:
        with self.anonymous() as conn:
            if conn.execute("SELECT to_regclass('jarvis.schema_migrations')").fetchone()[0] is None:
                raise ConfigError(f"JARVIS_DATABASE_URL: {self.where} has no jarvis schema; run `jarvis-mcp migrate` "
                                  "as the database owner first")
            version = conn.execute("SELECT max(version) FROM jarvis.schema_migrations").fetchone()[0] or 0
            if expected_version is not None and version < expected_version:
                raise ConfigError(f"JARVIS_DATABASE_URL: {self.where} is at migration {version}, this version needs "
                                  f"{expected_version}; run `jarvis-mcp migrate`")

    def check_role(self) -> None:
        """Refuse a role that Row Level Security would not apply to: the guarantee would be gone silently."""
        with self.anonymous() as conn:
            role, superuser, bypass, owner = conn.execute(
                "SELECT current_user, r.rolsuper, r.rolbypassrls, pg_has_role(current_user, c.relowner, 'USAGE') "
                "FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'jarvis.memories'::regclass"
            ).fetchone()
        why = ("is a superuser" if superuser else "bypasses row level security" if bypass
               else "owns the tables" if owner else None)
        if why:
            raise ConfigError(
                f"JARVIS_DATABASE_URL: role {role!r} {why}, so Row Level Security would not apply; connect as "
                "the app role (`jarvis-mcp migrate --app-role NAME` creates it and grants what it needs)"
            )

    def extension_schema(self, name: str) -> str | None:
        with self.anonymous() as conn:
            row = conn.execute(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = %s", (name,)
            ).fetchone()
        return str(row[0]) if row else None

    def has_column(self, table: str, column: str) -> bool:
        with self.anonymous() as conn:
            return conn.execute(
                "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
                (table, column),
            ).fetchone() is not None

    def close(self) -> None:
        self.pool.close()
