"""Jobs for one user (get_job), and the worker that runs every user's queued jobs.

The worker is a daemon thread in each server process (not read-only ones). It claims one job at a time
under a lease, renews the lease with every progress report, and hands the job to its kind's handler. A
process that dies mid-job loses nothing: the row stays `running` until its lease expires, then any
process's worker claims it again. Handlers must be resumable (index_document skips passages already
stored), so a job taken over finishes once, with the same result.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.events import ChangeBus, publish_quietly
from jarvis_mcp.jobs.models import JobInfo
from jarvis_mcp.jobs.ports import DONE, FAILED, JobQueue, JobRecord, NewJob, Progress, RetryLater
from jarvis_mcp.text import from_epoch

log = logging.getLogger(__name__)
T = TypeVar("T")

LEASE_S = 60.0  # a worker silent this long is presumed dead; handlers report far more often than this
MAX_ATTEMPTS = 3  # leases expired this many times: the job itself kills workers, so it is failed
POLL_S = 1.0  # how often an idle worker looks for queued work (enqueue also wakes it at once)

# A handler: (user id, payload, progress) -> result. JarvisError is the job's failure, shown to the model.
Handler = Callable[[str, dict[str, Any], Progress], dict[str, Any]]


def to_info(rec: JobRecord) -> JobInfo:
    finished = rec.status in (DONE, FAILED)
    percent = round(100.0 * rec.done / rec.total, 1) if rec.total else None
    return JobInfo(
        job_id=rec.id, kind=rec.kind, status=rec.status, done=rec.done, total=rec.total, percent=percent,  # type: ignore[arg-type]
        message=rec.message, result=rec.result, error=rec.error, created_at=from_epoch(rec.created_at),
        updated_at=from_epoch(rec.updated_at), poll_again_seconds=None if finished else 5,
    )


def _valid_id(job_id: str) -> bool:
    try:
        return str(uuid.UUID(job_id)) == job_id
    except (ValueError, AttributeError, TypeError):
        return False


class JobService:
    def __init__(self, user_id: str, queue: JobQueue, *, bus: ChangeBus | None = None,
                 wake: Callable[[], None] | None = None) -> None:
        self.user_id = user_id
        self.queue = queue
        self.bus = bus
        self.wake = wake  # the worker of this process, told at once that work is waiting

    def enqueue(self, job: NewJob) -> JobRecord:
        rec = self.queue.enqueue(self.user_id, job)
        publish_quietly(self.bus, self.user_id, "jobs", rec.id)
        if self.wake:
            self.wake()
        return rec

    def run_here(self, job: NewJob, work: Callable[[Progress], T], result: Callable[[T], dict[str, Any]],
                 tell: Progress | None = None) -> T:
        """Run `work` in this call, tracked as a job (progress on the page, get_job); `tell` also hears each
        milestone (the MCP client's progress notifications). Should this process die, a worker runs the
        job's handler again after the lease: the work must be resumable, as sync_contacts is."""
        owner = f"call-{uuid.uuid4().hex[:12]}"
        rec = self.queue.start(self.user_id, job, owner, LEASE_S)
        publish_quietly(self.bus, self.user_id, "jobs", rec.id)

        def progress(done: int, total: int | None, message: str) -> None:
            self.queue.report(self.user_id, rec.id, owner, done, total, message, LEASE_S)
            publish_quietly(self.bus, self.user_id, "jobs", rec.id)
            if tell:
                tell(done, total, message)

        try:
            out = work(progress)
        except BaseException as exc:
            error = str(exc) if isinstance(exc, JarvisError) else "the call failed; the server log has the details"
            self.queue.finish(self.user_id, rec.id, owner, None, error)
            publish_quietly(self.bus, self.user_id, "jobs", rec.id)
            raise
        self.queue.finish(self.user_id, rec.id, owner, result(out), None)
        publish_quietly(self.bus, self.user_id, "jobs", rec.id)
        return out

    def get(self, job_id: str) -> JobInfo:
        job_id = (job_id or "").strip()
        if not job_id:
            raise InvalidInput("job_id", "must not be empty; use the job_id a tool returned")
        if not _valid_id(job_id):
            raise InvalidInput("job_id", "must be a job id as a tool returned it (a UUID)")
        rec = self.queue.get_job(self.user_id, job_id)
        if rec is None:
            raise NotFound("job", job_id)  # another user's job answers exactly like a missing one
        return to_info(rec)


class JobWorker:
    """Runs queued jobs of every user, one at a time, on a daemon thread (or step by step in tests)."""

    def __init__(self, queue: JobQueue, handlers: Mapping[str, Handler], *, bus: ChangeBus | None = None,
                 lease_s: float = LEASE_S, poll_s: float = POLL_S, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.queue = queue
        self.handlers = handlers
        self.bus = bus
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.max_attempts = max_attempts
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> JobRecord | None:
        """Claim and run one job; the record claimed, or None when nothing was waiting."""
        job = self.queue.claim(self.owner, self.lease_s, self.max_attempts)
        if job is None:
            return None
        publish_quietly(self.bus, job.user_id, "jobs", job.id)
        handler = self.handlers.get(job.kind)
        result: dict[str, Any] | None = None
        error: str | None = None
        try:
            if handler is None:
                raise JarvisError(f"this server cannot run jobs of kind {job.kind}")
            result = handler(job.user_id, job.payload, self._progress(job))
        except LeaseLost:
            log.warning("job %s (%s) was taken over by another worker; leaving it", job.id, job.kind)
            return job
        except Stopping:
            # This process is shutting down: hand the job back now rather than after its lease expires.
            self.queue.defer(job.user_id, job.id, self.owner, time.time(), "interrupted by a server shutdown; resumes")
            publish_quietly(self.bus, job.user_id, "jobs", job.id)
            return job
        except RetryLater as exc:
            if not self.queue.defer(job.user_id, job.id, self.owner, time.time() + exc.delay_s, str(exc)):
                log.warning("job %s could not be put back: its lease was taken over", job.id)
            publish_quietly(self.bus, job.user_id, "jobs", job.id)
            return job
        except JarvisError as exc:
            error = str(exc)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("job %s (%s) of user %s failed (reference %s)", job.id, job.kind, job.user_id, ref)
            error = f"internal error (reference {ref}); the server log has the details"
        if not self.queue.finish(job.user_id, job.id, self.owner, result, error):
            log.warning("job %s finished after its lease was taken over; its result is discarded", job.id)
        publish_quietly(self.bus, job.user_id, "jobs", job.id)
        return job

    def _progress(self, job: JobRecord) -> Progress:
        def report(done: int, total: int | None, message: str) -> None:
            if self._stop.is_set():
                raise Stopping  # handlers are resumable: the next worker carries on from what is stored
            if not self.queue.report(job.user_id, job.id, self.owner, done, total, message, self.lease_s):
                raise LeaseLost(job.id)  # stop working on what another worker now owns
            publish_quietly(self.bus, job.user_id, "jobs", job.id)

        return report

    # -- the thread -----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="jarvis-jobs", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # the store unreachable for a moment: try again later, never die
                log.exception("job worker could not claim work")
                ran = None
            if ran is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def stop(self, timeout: float = 30.0) -> None:
        """Stops at the current job's next milestone, handing it back to the queue; a job that reaches
        none within `timeout` is left to its lease."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


class Stopping(Exception):
    """Raised at a milestone when the worker is stopping."""


class LeaseLost(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"lease on job {job_id} lost")
