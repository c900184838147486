"""The job records over Postgres: rows under Row Level Security (what get_job reads), each run by
procrastinate (procrastinate_queue.py): the row and its procrastinate job are written in one transaction.
Workers take a row under a lease named after their procrastinate job, then report and finish as its
owner. `claim` (jarvis.jobs_claim, FOR UPDATE SKIP LOCKED) remains for the JobQueue port's own worker;
the server runs procrastinate's instead (make_worker)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from jarvis_mcp.adapters.postgres.database import Database, uuids
from jarvis_mcp.adapters.postgres.procrastinate_queue import NewRunner, ProcrastinateWorker, defer_sql
from jarvis_mcp.jobs.ports import DONE, FAILED, QUEUED, RUNNING, JobRecord, NewJob

_COLUMNS = ("id::text, user_id::text, kind, payload, status, done, total, message, result, error, attempts, "
            "lease_owner, created_at, updated_at")


def _record(row: Sequence[Any]) -> JobRecord:
    (jid, user_id, kind, payload, status, done, total, message, result, error, attempts, owner,
     created, updated) = row
    return JobRecord(id=jid, user_id=user_id, kind=kind, payload=payload, status=status, done=int(done),
                     total=total, message=message, result=result, error=error, attempts=int(attempts),
                     lease_owner=owner, created_at=float(created), updated_at=float(updated))


class PostgresJobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, user_id: str, job: NewJob) -> JobRecord:
        return self._insert(user_id, job, None, 0.0)

    def start(self, user_id: str, job: NewJob, owner: str, lease_s: float) -> JobRecord:
        return self._insert(user_id, job, owner, lease_s)

    def _insert(self, user_id: str, job: NewJob, owner: str | None, lease_s: float) -> JobRecord:
        now = time.time()
        with self.db.session(user_id) as conn:
            row = conn.execute(
                f"INSERT INTO jarvis.jobs (id, user_id, kind, payload, status, total, message, attempts, lease_owner, "
                f"lease_until, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                f"RETURNING {_COLUMNS}",
                (str(uuid.uuid4()), user_id, job.kind, Jsonb(job.payload), RUNNING if owner else QUEUED, job.total,
                 job.message, 1 if owner else 0, owner, now + lease_s if owner else None, now, now),
            ).fetchone()
            assert row is not None
            # Queued: procrastinate runs it. Run by a tool call: a watchdog at its lease's end takes it over
            # should the call's process die (it finds the row finished, or renewed, otherwise).
            defer_sql(conn, user_id, row[0], now + lease_s if owner else None)
        return _record(row)

    def take(self, user_id: str, job_id: str, owner: str, lease_s: float) -> JobRecord | None:
        """The row leased to `owner` when it is queued and due, its lease is over, or `owner` held it already
        (procrastinate retrying its own stalled job); None when another holder is alive or it is finished."""
        now = time.time()
        with self.db.session(user_id) as conn:
            row = conn.execute(
                f"UPDATE jarvis.jobs SET status = %s, lease_owner = %s, lease_until = %s, attempts = attempts + 1, "
                f"updated_at = %s WHERE user_id = %s AND id = %s AND ((status = %s AND coalesce(not_before, 0) <= %s) "
                f"OR (status = %s AND (lease_until < %s OR lease_owner = %s))) RETURNING {_COLUMNS}",
                (RUNNING, owner, now + lease_s, now, user_id, job_id, QUEUED, now, RUNNING, now, owner),
            ).fetchone()
        return _record(row) if row else None

    def watch(self, user_id: str, job_id: str) -> None:
        """A new procrastinate job at the end of the row's current lease (a live tool call holds it)."""
        with self.db.session(user_id) as conn:
            row = conn.execute("SELECT lease_until FROM jarvis.jobs WHERE user_id = %s AND id = %s AND status = %s",
                               (user_id, job_id, RUNNING)).fetchone()
            if row is not None:
                defer_sql(conn, user_id, job_id, float(row[0] or time.time()) + 0.05)

    def make_worker(self, new_runner: NewRunner) -> ProcrastinateWorker:
        """procrastinate's worker for this process; `new_runner` runs one job by the service's rules."""
        return ProcrastinateWorker(self, new_runner)

    def get_job(self, user_id: str, job_id: str) -> JobRecord | None:
        if not uuids([job_id]):
            return None
        with self.db.read(user_id) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.jobs WHERE user_id = %s AND id = %s",
                               (user_id, job_id)).fetchone()
        return _record(row) if row else None

    def claim(self, owner: str, lease_s: float, max_attempts: int) -> JobRecord | None:
        with self.db.anonymous() as conn:
            found = conn.execute("SELECT user_id::text, job_id::text FROM jarvis.jobs_claim(%s, %s, %s, %s)",
                                 (owner, time.time(), lease_s, max_attempts)).fetchone()
        if found is None:
            return None
        rec = self.get_job(found[0], found[1])
        return rec if rec is not None and rec.lease_owner == owner else None

    def report(self, user_id: str, job_id: str, owner: str, done: int, total: int | None, message: str,
               lease_s: float) -> bool:
        now = time.time()
        with self.db.session(user_id) as conn:
            row = conn.execute(
                "UPDATE jarvis.jobs SET done = %s, total = %s, message = %s, lease_until = %s, updated_at = %s "
                "WHERE user_id = %s AND id = %s AND status = %s AND lease_owner = %s RETURNING id",
                (done, total, message, now + lease_s, now, user_id, job_id, RUNNING, owner),
            ).fetchone()
        return row is not None

    def defer(self, user_id: str, job_id: str, owner: str, not_before: float, message: str) -> bool:
        with self.db.session(user_id) as conn:
            row = conn.execute(
                "UPDATE jarvis.jobs SET status = %s, not_before = %s, message = %s, attempts = 0, lease_owner = NULL, "
                "lease_until = NULL, updated_at = %s WHERE user_id = %s AND id = %s AND status = %s "
                "AND lease_owner = %s RETURNING id",
                (QUEUED, not_before, message, time.time(), user_id, job_id, RUNNING, owner),
            ).fetchone()
            if row is not None:
                defer_sql(conn, user_id, job_id, not_before)  # procrastinate runs it again then
        return row is not None

    def finish(self, user_id: str, job_id: str, owner: str, result: dict[str, Any] | None, error: str | None) -> bool:
        now = time.time()
        with self.db.session(user_id) as conn:
            row = conn.execute(
                "UPDATE jarvis.jobs SET status = %s, result = %s, error = %s, message = %s, lease_owner = NULL, "
                "lease_until = NULL, done = CASE WHEN %s::text IS NULL AND total IS NOT NULL THEN total ELSE done END, "
                "updated_at = %s WHERE user_id = %s AND id = %s AND status = %s AND lease_owner = %s RETURNING id",
                (FAILED if error else DONE, Jsonb(result) if result is not None else None, error,
                 "failed" if error else "done", error, now, user_id, job_id, RUNNING, owner),
            ).fetchone()
        return row is not None
