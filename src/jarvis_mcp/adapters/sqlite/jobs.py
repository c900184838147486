"""The job queue over the SQLite store: a claim is one UPDATE ... RETURNING in an IMMEDIATE transaction,
so two workers (threads or processes on the same file) never hold the same job."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from jarvis_mcp.adapters.sqlite.database import Database
from jarvis_mcp.jobs.ports import DONE, FAILED, QUEUED, RUNNING, JobRecord, NewJob

_COLUMNS = ("id, user_id, kind, payload, status, done, total, message, result, error, attempts, lease_owner, "
            "created_at, updated_at")


def _record(row: Sequence[Any]) -> JobRecord:
    (jid, user_id, kind, payload, status, done, total, message, result, error, attempts, owner,
     created, updated) = row
    return JobRecord(
        id=jid, user_id=user_id, kind=kind, payload=json.loads(payload), status=status, done=int(done),
        total=None if total is None else int(total), message=message, result=json.loads(result) if result else None,
        error=error, attempts=int(attempts), lease_owner=owner, created_at=float(created), updated_at=float(updated),
    )


class SqliteJobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, user_id: str, job: NewJob) -> JobRecord:
        return self._insert(user_id, job, None, 0.0)

    def start(self, user_id: str, job: NewJob, owner: str, lease_s: float) -> JobRecord:
        return self._insert(user_id, job, owner, lease_s)

    def _insert(self, user_id: str, job: NewJob, owner: str | None, lease_s: float) -> JobRecord:
        now = time.time()
        job_id = str(uuid.uuid4())
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, user_id, kind, payload, status, total, message, attempts, lease_owner, "
                "lease_until, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, user_id, job.kind, json.dumps(job.payload), RUNNING if owner else QUEUED, job.total,
                 job.message, 1 if owner else 0, owner, now + lease_s if owner else None, now, now),
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _record(row)

    def get_job(self, user_id: str, job_id: str) -> JobRecord | None:
        row = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE user_id = ? AND id = ?", (user_id, job_id)
        ).fetchone()
        return _record(row) if row else None

    def claim(self, owner: str, lease_s: float, max_attempts: int) -> JobRecord | None:
        now = time.time()
        # An idle worker asks every second: a plain read first, so it takes the write lock only for work.
        if self.db.conn.execute("SELECT 1 FROM jobs WHERE status IN ('queued', 'running') LIMIT 1").fetchone() is None:
            return None
        with self.db.transaction() as conn:
            # Jobs whose lease expired max_attempts times kill their workers: failed, not claimed again.
            # The statuses are literals, not parameters: only then can SQLite use the partial index of
            # unfinished jobs instead of scanning every job ever run.
            conn.execute(
                "UPDATE jobs SET status = 'failed', error = ?, lease_owner = NULL, updated_at = ? "
                "WHERE status IN ('queued', 'running') AND status = 'running' AND lease_until < ? AND attempts >= ?",
                (f"stopped {max_attempts} times without finishing; given up", now, now, max_attempts),
            )
            row = conn.execute(
                f"UPDATE jobs SET status = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1, "
                f"updated_at = ? WHERE id = (SELECT id FROM jobs WHERE status IN ('queued', 'running') AND "
                f"((status = 'queued' AND coalesce(not_before, 0) <= ?) OR (status = 'running' AND lease_until < ?)) "
                f"ORDER BY created_at LIMIT 1) RETURNING {_COLUMNS}",
                (owner, now + lease_s, now, now, now),
            ).fetchone()
        return _record(row) if row else None

    def report(self, user_id: str, job_id: str, owner: str, done: int, total: int | None, message: str, lease_s: float) -> bool:
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute(
                "UPDATE jobs SET done = ?, total = ?, message = ?, lease_until = ?, updated_at = ? "
                "WHERE user_id = ? AND id = ? AND status = ? AND lease_owner = ? RETURNING id",
                (done, total, message, now + lease_s, now, user_id, job_id, RUNNING, owner),
            ).fetchone()
        return row is not None

    def defer(self, user_id: str, job_id: str, owner: str, not_before: float, message: str) -> bool:
        with self.db.transaction() as conn:
            row = conn.execute(
                "UPDATE jobs SET status = ?, not_before = ?, message = ?, attempts = 0, lease_owner = NULL, "
                "lease_until = NULL, updated_at = ? WHERE user_id = ? AND id = ? AND status = ? AND lease_owner = ? "
                "RETURNING id",
                (QUEUED, not_before, message, time.time(), user_id, job_id, RUNNING, owner),
            ).fetchone()
        return row is not None

    def finish(self, user_id: str, job_id: str, owner: str, result: dict[str, Any] | None, error: str | None) -> bool:
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute(
                "UPDATE jobs SET status = ?, result = ?, error = ?, message = ?, lease_owner = NULL, lease_until = NULL, "
                "done = CASE WHEN ? IS NULL AND total IS NOT NULL THEN total ELSE done END, updated_at = ? "
                "WHERE user_id = ? AND id = ? AND status = ? AND lease_owner = ? RETURNING id",
                (FAILED if error else DONE, json.dumps(result) if result is not None else None, error,
                 "failed" if error else "done", error, now, user_id, job_id, RUNNING, owner),
            ).fetchone()
        return row is not None
