"""The job queue port: rows kept in the store, claimed by one worker at a time under a lease.

A worker that dies keeps its lease until it expires; then another worker claims the job again. Every
write a worker makes names its lease, so a worker that lost its lease cannot report or finish the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
MIRROR_JOB = "mirror_vectors"  # a vector index write (Pinecone) that failed, retried from the queue
SYNC_JOB = "sync_contacts"  # a contacts sync, run in its tool call and tracked here (resumed if it dies)

Progress = Callable[[int, int | None, str], None]  # (done, total, milestone), called by a job's handler


class RetryLater(Exception):
    """Raised by a handler whose provider is unavailable: the job waits `delay_s` and runs again."""

    def __init__(self, message: str, delay_s: float) -> None:
        super().__init__(message)
        self.delay_s = delay_s


@dataclass(frozen=True)
class NewJob:
    kind: str  # which handler runs it, e.g. "index_document"
    payload: dict[str, Any]  # the handler's arguments: ids, never the user's content
    total: int | None = None
    message: str = "queued"


@dataclass(frozen=True)
class JobRecord:
    id: str
    user_id: str
    kind: str
    payload: dict[str, Any]
    status: str  # queued | running | done | failed
    done: int
    total: int | None
    message: str
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    lease_owner: str | None
    created_at: float
    updated_at: float


class JobQueue(Protocol):
    def enqueue(self, user_id: str, job: NewJob) -> JobRecord: ...

    def start(self, user_id: str, job: NewJob, owner: str, lease_s: float) -> JobRecord:
        """A job the caller runs itself, now (a tool call): stored already leased to `owner`, so its
        progress is visible like any job's and, if the process dies, a worker takes it up after the lease."""
        ...

    def get_job(self, user_id: str, job_id: str) -> JobRecord | None: ...

    def claim(self, owner: str, lease_s: float, max_attempts: int) -> JobRecord | None:
        """The oldest job queued, or running under an expired lease, now leased to `owner`; None if none.
        A job whose lease expired `max_attempts` times is marked failed instead of claimed again."""
        ...

    def report(self, user_id: str, job_id: str, owner: str, done: int, total: int | None, message: str, lease_s: float) -> bool:
        """Progress, and the lease renewed; False when `owner` no longer holds the lease."""
        ...

    def defer(self, user_id: str, job_id: str, owner: str, not_before: float, message: str) -> bool:
        """Back to queued, not to be claimed before `not_before` (a provider down: retry later); its count
        of expired leases starts again. False when `owner` no longer holds the lease."""
        ...

    def finish(self, user_id: str, job_id: str, owner: str, result: dict[str, Any] | None, error: str | None) -> bool:
        """done (error None) or failed; False when `owner` no longer holds the lease (nothing written)."""
        ...
