"""The connection pool, the caller's claims on every transaction, and the start-up checks.

The pool is synchronous: the store's callers are the services, which the MCP SDK runs in worker threads,
so a thread-safe sync pool serves the same concurrency without bridging event loops.

A restart, a failover or `pg_terminate_backend` kills connections under the pool. Each transaction says
whether it reads (`read`, enforced by Postgres as READ ONLY) or may write (`session`), and that decides
what a connection that drops in the middle means: a read runs again, once (`retry_reads` re-runs the
whole store call); a write answers ConnectionDropped, which says the change may or may not have been
saved, because running it again could do it twice.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import FunctionType
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from jarvis_mcp.config import ConfigError, ServiceUnreachable
from jarvis_mcp.errors import JarvisError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10


class ConnectionDropped(JarvisError):
    """The database connection broke during a transaction (restart, failover, terminated backend)."""

    def __init__(self, *, maybe_saved: bool) -> None:
        self.maybe_saved = maybe_saved
        super().__init__(
            "the database connection dropped while saving, so this change may or may not have been saved; "
            "check first (list_actions, get_action, or the list_/get_ tool for what was changed) before "
            "trying again, so that nothing is done twice" if maybe_saved else
            "the database connection dropped (a restart or failover); nothing was changed: try again in a moment"
        )


class DatabaseUnavailable(JarvisError):
    def __init__(self) -> None:
        super().__init__("the database is not answering right now (down, restarting or overloaded); nothing was "
                         "changed: try again in a moment")


@dataclass
class _Call:
    wrote: bool = False


# The store call in progress on this thread, so a transaction that committed a write can forbid a re-run.
_CALL: ContextVar[_Call | None] = ContextVar("jarvis_pg_call", default=None)

_T = TypeVar("_T")


def retry_reads(cls: type[_T]) -> type[_T]:
    """Every public method of cls (its bases' too) runs once more when a read-only transaction of it lost
    its connection, unless a write of the same call had already committed."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(value, FunctionType):
                setattr(cls, name, _retrying(value))
    return cls


def _retrying(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _CALL.get() is not None:
            return fn(*args, **kwargs)  # a store call inside another: the outermost one decides
        for attempt in (1, 2):
            state = _Call()
            token = _CALL.set(state)
            try:
                return fn(*args, **kwargs)
            except ConnectionDropped as exc:
                if exc.maybe_saved or state.wrote:
                    raise ConnectionDropped(maybe_saved=True) from exc
                if attempt == 2:
                    raise
                log.warning("database connection dropped during %s (a read); running it again", fn.__name__)
            finally:
                _CALL.reset(token)
        raise AssertionError("unreachable")

    return call


def _dropped(conn: psycopg.Connection) -> bool:
    return conn.closed or conn.broken


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
            raise ServiceUnreachable(f"JARVIS_DATABASE_URL: cannot connect to {self.where}: {reason}") from None
        # check: a connection the server closed while it sat in the pool (restart, failover, terminated
        # backend) is found and replaced before a call gets it, at the price of one round trip.
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=False, name="jarvis",
                                   kwargs={"connect_timeout": CONNECT_TIMEOUT_S}, check=ConnectionPool.check_connection)
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout:
            self.pool.close()
            raise ServiceUnreachable(f"JARVIS_DATABASE_URL: {self.where} accepted one connection but the pool "
                                     "could not open; is the server at its connection limit?") from None

    def session(self, user_id: str) -> AbstractContextManager[psycopg.Connection]:
        """One transaction acting as that user, which may write: Row Level Security shows it that user's
        rows only. The claims are transaction-local, so a pooled connection never carries one user's
        claims into the next user's work; committed on success, rolled back on any exception."""
        return self._transaction(claims(user_id), write=True)

    def read(self, user_id: str) -> AbstractContextManager[psycopg.Connection]:
        """As session, for a transaction that only reads: READ ONLY, so a drop can be retried safely."""
        return self._transaction(claims(user_id), write=False)

    def anonymous(self, *, write: bool = True) -> AbstractContextManager[psycopg.Connection]:
        """A transaction with no claims: only global tables and the SECURITY DEFINER functions answer."""
        return self._transaction(None, write=write)

    @contextmanager
    def _transaction(self, user_claims: str | None, *, write: bool) -> Iterator[psycopg.Connection]:
        conn = self._begin(user_claims, write)
        committing = False
        try:
            with conn:  # commits on success, rolls back on an exception
                yield conn
                committing = True
        except psycopg.OperationalError as exc:
            if not _dropped(conn):
                raise
            if committing and not write:
                return  # the read has its rows; its commit had nothing to save
            # Before the commit was sent the server rolled the transaction back; during it, nobody knows.
            # Either way the caller may have acted on the call's earlier steps: never invite a blind retry.
            raise ConnectionDropped(maybe_saved=write) from exc
        finally:
            self.pool.putconn(conn)
        if write and (call := _CALL.get()) is not None:
            call.wrote = True

    def _begin(self, user_claims: str | None, write: bool) -> psycopg.Connection:
        """A pooled connection with the transaction's claims and mode set; one more try on a dropped one,
        since nothing has been sent yet."""
        for attempt in (1, 2):
            try:
                conn = self.pool.getconn()
            except PoolTimeout:
                raise DatabaseUnavailable() from None
            try:
                if user_claims is not None:
                    conn.execute("SELECT set_config('request.jwt.claims', %s, true), "
                                 "set_config('transaction_read_only', %s, true)", (user_claims, "off" if write else "on"))
                elif not write:
                    conn.execute("SET TRANSACTION READ ONLY")
                return conn
            except BaseException as exc:
                dropped = isinstance(exc, psycopg.OperationalError) and _dropped(conn)
                self.pool.putconn(conn)
                if not dropped:
                    raise
                if attempt == 2:
                    raise ConnectionDropped(maybe_saved=False) from exc
        raise AssertionError("unreachable")

    def check_schema(self, expected_version: int | None) -> None:
        with self.anonymous(write=False) as conn:
            if conn.execute("SELECT to_regclass('jarvis.schema_migrations')").fetchone()[0] is None:
                raise ConfigError(f"JARVIS_DATABASE_URL: {self.where} has no jarvis schema; run `jarvis-mcp migrate` "
                                  "as the database owner first")
            version = conn.execute("SELECT max(version) FROM jarvis.schema_migrations").fetchone()[0] or 0
            if expected_version is not None and version < expected_version:
                raise ConfigError(f"JARVIS_DATABASE_URL: {self.where} is at migration {version}, this version needs "
                                  f"{expected_version}; run `jarvis-mcp migrate`")

    def check_role(self) -> None:
        """Refuse a role that Row Level Security would not apply to: the guarantee would be gone silently."""
        with self.anonymous(write=False) as conn:
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
        with self.anonymous(write=False) as conn:
            row = conn.execute(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = %s", (name,)
            ).fetchone()
        return str(row[0]) if row else None

    def has_column(self, table: str, column: str) -> bool:
        with self.anonymous(write=False) as conn:
            return conn.execute(
                "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
                (table, column),
            ).fetchone() is not None

    def close(self) -> None:
        self.pool.close()
