"""`jarvis-mcp migrate`: apply the SQL under resources/migrations/postgres, enable pgvector where the
database has it, and create / grant the app role the server connects as."""

from __future__ import annotations

import logging
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from jarvis_mcp.config import ConfigError

log = logging.getLogger(__name__)

_LOCK_KEY = 0x6A617276  # one migrate at a time per database ("jarv")
_BACKFILL_BATCH = 500


def migrations_dir() -> Path | None:
    """Where the Postgres migrations are: the source tree (editable install), else the installed data files."""
    candidates = [
        Path(__file__).resolve().parents[4] / "resources" / "migrations" / "postgres",
        Path(sysconfig.get_path("data")) / "share" / "jarvis-mcp" / "migrations" / "postgres",
        Path(sys.prefix) / "share" / "jarvis-mcp" / "migrations" / "postgres",
    ]
    return next((c for c in candidates if c.is_dir() and any(c.glob("*.sql"))), None)


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every numbered migration, in order."""
    folder = migrations_dir()
    if folder is None:
        raise ConfigError("the Postgres migrations (resources/migrations/postgres) are not installed with this copy")
    found = [(int(p.name.split("_", 1)[0]), p.name, p.read_text(encoding="utf-8")) for p in folder.glob("[0-9]*.sql")]
    return sorted(found)


def latest_version() -> int | None:
    """The migration the code expects, or None where the files are not shipped (the check is skipped)."""
    folder = migrations_dir()
    if folder is None:
        return None
    return max((int(p.name.split("_", 1)[0]) for p in folder.glob("[0-9]*.sql")), default=None)


def vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(map(str, np.asarray(vector, np.float32).tolist())) + "]"


@dataclass
class MigrateReport:
    applied: list[str] = field(default_factory=list)
    pgvector: bool = False
    backfilled: int = 0
    keywords_rebuilt: int = 0
    app_role: str | None = None
    app_role_created: bool = False


def migrate(url: str, *, app_role: str | None = None) -> MigrateReport:
    """Run as the role that owns (or will own) the tables. Idempotent: applied migrations are skipped."""
    report = MigrateReport(app_role=app_role)
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS jarvis")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS jarvis.schema_migrations "
            "(version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM jarvis.schema_migrations")}
        for number, name, text in migrations():
            if number in done:
                continue
            log.info("applying migration %s", name)
            conn.execute(text.encode())  # no parameters: the file may hold many statements
            conn.execute("INSERT INTO jarvis.schema_migrations VALUES (%s, %s, %s)", (number, name, time.time()))
            report.applied.append(name)
        report.pgvector = bool(conn.execute("SELECT jarvis.enable_pgvector()").fetchone()[0])
        if app_role:
            report.app_role_created = _ensure_app_role(conn, app_role)
            conn.execute("SELECT jarvis.grant_app(%s)", (app_role,))
        # The hosted job queue's tables (procrastinate's schema, applied once) and the app role's rights on them.
        from jarvis_mcp.adapters.postgres.procrastinate_queue import apply_schema

        apply_schema(conn, app_role)
    if report.pgvector:
        report.backfilled = _backfill_vectors(url)
    report.keywords_rebuilt = _rebuild_keywords(url)
    return report


def _rebuild_keywords(url: str) -> int:
    """Rewrite tsv for rows indexed with an older keyword form (migration 0011); resumable, in batches."""
    from jarvis_mcp.memory import keywords  # the stemmers load only when a migration needs them

    total = 0
    with psycopg.connect(url) as conn:
        while True:
            rows = conn.execute(
                "SELECT seq, text FROM jarvis.memories WHERE keyword_form < %s ORDER BY seq LIMIT %s",
                (keywords.FORM, _BACKFILL_BATCH),
            ).fetchall()
            if not rows:
                break
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE jarvis.memories SET tsv = to_tsvector('simple', %s), keyword_form = %s WHERE seq = %s",
                    [(" ".join(keywords.index_terms(text)), keywords.FORM, seq) for seq, text in rows],
                )
            conn.commit()
            total += len(rows)
    return total


def _ensure_app_role(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT r.rolsuper, r.rolbypassrls, pg_has_role(r.oid, c.relowner, 'USAGE') "
        "FROM pg_roles r, pg_class c WHERE r.rolname = %s AND c.oid = 'jarvis.memories'::regclass", (name,)
    ).fetchone()
    if row is None:
        # No password here: set one with ALTER ROLE (or use a certificate / trust rule) before connecting.
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOINHERIT").format(sql.Identifier(name)))
        return True
    superuser, bypass, owner = row
    if superuser or bypass or owner:
        raise ConfigError(f"--app-role {name}: that role {'is a superuser' if superuser else 'bypasses RLS' if bypass else 'owns the tables'}; "
                          "the app role must be one Row Level Security applies to")
    return False


def _backfill_vectors(url: str) -> int:
    """Copy the bytea embeddings of rows written before pgvector was enabled into embedding_vec."""
    total = 0
    with psycopg.connect(url) as conn:
        schema = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
        ).fetchone()[0]
        update = sql.SQL("UPDATE jarvis.memories SET embedding_vec = %s::{}.vector WHERE seq = %s").format(
            sql.Identifier(schema))
        while True:
            rows = conn.execute(
                "SELECT seq, embedding FROM jarvis.memories WHERE embedding_vec IS NULL ORDER BY seq LIMIT %s",
                (_BACKFILL_BATCH,),
            ).fetchall()
            if not rows:
                break
            with conn.cursor() as cur:
                cur.executemany(update, [(vector_literal(np.frombuffer(blob, np.float32)), seq) for seq, blob in rows])
            conn.commit()
            total += len(rows)
    return total
