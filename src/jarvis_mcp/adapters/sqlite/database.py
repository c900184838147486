"""Connections (one per thread: apsw connections must not interleave transactions) and migrations."""

from __future__ import annotations

import importlib.resources
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apsw
import sqlite_vec

from jarvis_mcp.home import DIR_MODE, create_private_file

log = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "jarvis_mcp.migrations"


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) for every numbered migration shipped with the package, in order."""
    folder = importlib.resources.files(MIGRATIONS_PACKAGE).joinpath("sqlite")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        # SQLite gives the -wal and -shm files the database file's mode: 0600 here, 0600 there.
        create_private_file(path)
        self._local = threading.local()
        self._all: list[apsw.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    def _open(self) -> apsw.Connection:
        conn = apsw.Connection(str(self.path))
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
        conn.set_busy_timeout(10_000)
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA mmap_size=268435456")
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    @property
    def conn(self) -> apsw.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[apsw.Connection]:
        conn = self.conn
        # IMMEDIATE takes the write lock up front, so two writers wait on busy_timeout instead of
        # failing half-way with SQLITE_BUSY on lock upgrade.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        conn = self.conn
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)")
        with self.transaction():
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for number, name, sql in migrations():
                if number in done:
                    continue
                log.info("applying migration %s", name)
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (number, name, time.time()))

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
