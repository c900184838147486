"""Hosted job execution on procrastinate (a maintained Postgres job queue) instead of a loop of our own.

Our `jarvis.jobs` row stays the per-user record (RLS; status, progress, result: what get_job reads). Each
row is paired with a procrastinate job `jarvis_job(user_id, job_id)`, deferred in the same transaction
that writes the row (so neither exists without the other). procrastinate's worker runs in each server
process, on a thread with its own event loop; its heartbeats let any worker find a dead worker's job
(`get_stalled_jobs`) and retry it, and our row's lease owner is the procrastinate job id, so the retry
takes the row over at once. A job a tool call runs itself gets a watchdog job at its lease's end.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import procrastinate
import psycopg
from procrastinate.schema import SchemaManager
from psycopg import sql

from jarvis_mcp.jobs.ports import DONE, FAILED, QUEUED, JobQueue, JobRecord

if TYPE_CHECKING:
    from jarvis_mcp.adapters.postgres.jobs import PostgresJobQueue

log = logging.getLogger(__name__)

QUEUE = "jarvis"
TASK = "jarvis_job"
STALLED_S = 30.0  # a worker silent this long (3 missed heartbeats) is dead: its jobs are retried
HEARTBEAT_S = 10.0


def defer_sql(conn: psycopg.Connection, user_id: str, job_id: str, at: float | None) -> None:
    """The procrastinate job for our row, in the caller's transaction (procrastinate's own SQL API)."""
    conn.execute(
        "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(%s, %s, 0, NULL, NULL, %s::jsonb, "
        "CASE WHEN %s::float8 IS NULL THEN NULL ELSE to_timestamp(%s::float8) END)::procrastinate_job_to_defer_v1])",
        (QUEUE, TASK, psycopg.types.json.Jsonb({"user_id": user_id, "job_id": job_id}), at, at),
    )


def apply_schema(conn: psycopg.Connection, app_role: str | None) -> bool:
    """procrastinate's schema, once (idempotent), and the app role's rights on it; True when created."""
    created = False
    if conn.execute("SELECT to_regclass('public.procrastinate_jobs')").fetchone()[0] is None:
        conn.execute(SchemaManager.get_schema().encode())
        created = True
    if app_role:
        role = sql.Identifier(app_role)
        for (name,) in conn.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                    "WHERE n.nspname = 'public' AND c.relname LIKE 'procrastinate%%' "
                                    "AND c.relkind IN ('r', 'S')").fetchall():
            conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON public.{} TO {}").format(sql.Identifier(name), role))
        for (sig,) in conn.execute("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n "
                                   "ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
                                   "AND p.proname LIKE 'procrastinate%%'").fetchall():
            conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(sig), role))
    return created


class Runner(Protocol):
    """What runs one job by the service's rules (jobs.service.JobWorker: progress, RetryLater, errors);
    handed in by the runtime, since an adapter imports no service."""

    owner: str
    lease_s: float
    max_attempts: int
    _stop: threading.Event

    def run_once(self) -> Any: ...


NewRunner = Callable[[JobQueue], Runner]


class _Taken:
    """The queue as the runner sees it for one job already taken: its claim answers that job, once."""

    def __init__(self, queue: PostgresJobQueue) -> None:
        self._queue: PostgresJobQueue = queue
        self._rec: JobRecord | None = None

    def claim(self, owner: str, lease_s: float, max_attempts: int) -> JobRecord | None:
        rec, self._rec = self._rec, None
        return rec

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


class ProcrastinateWorker:
    """procrastinate's worker for this process (any user's jobs), with the same face as JobWorker."""

    def __init__(self, queue: PostgresJobQueue, new_runner: NewRunner, *, stalled_s: float = STALLED_S,
                 heartbeat_s: float = HEARTBEAT_S, concurrency: int = 1) -> None:
        self.queue, self.new_runner = queue, new_runner
        self.stalled_s, self.heartbeat_s, self.concurrency = stalled_s, heartbeat_s, concurrency
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=queue.db.url))
        self.app.task(name=TASK, queue=QUEUE, pass_context=True,
                      retry=procrastinate.RetryStrategy(max_attempts=5, wait=5))(self._run)
        self._running: set[Runner] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- one job ----------------------------------------------------------------------------------

    def _run(self, context: procrastinate.JobContext, user_id: str, job_id: str) -> None:
        """The task: take our row (queued, its lease over, or already ours from a stalled attempt of this
        very procrastinate job) and run its handler through JobWorker's rules (progress, RetryLater, errors)."""
        assert context.job is not None
        owner = f"pq-{context.job.id}"
        view = _Taken(self.queue)
        worker = self.new_runner(view)  # type: ignore[arg-type]  # a JobQueue by duck typing
        worker.owner = owner
        rec = self.queue.take(user_id, job_id, owner, worker.lease_s)
        if rec is None:
            self._watch(user_id, job_id)
            return
        if rec.attempts > worker.max_attempts:  # the job itself kills workers: stop retrying it
            self.queue.finish(user_id, job_id, owner, None, f"stopped {worker.max_attempts} times without finishing; given up")
            return
        view._rec = rec
        with self._lock:
            self._running.add(worker)
        try:
            worker.run_once()
        finally:
            with self._lock:
                self._running.discard(worker)

    def _watch(self, user_id: str, job_id: str) -> None:
        """Not ours to take: finished, waiting for its own retry, or run by a live tool call, whose lease
        end gets a new watchdog job so a call that dies is still taken over."""
        rec = self.queue.get_job(user_id, job_id)
        if rec is None or rec.status in (DONE, FAILED, QUEUED):
            return
        self.queue.watch(user_id, job_id)

    # -- the thread -------------------------------------------------------------------------------

    def wake(self) -> None:
        """Nothing to do: a deferred job wakes procrastinate's workers through LISTEN/NOTIFY."""

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="jarvis-procrastinate", daemon=True)
        self._thread.start()
        ready.wait(30)

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._main = loop.create_task(self._work())
            loop.call_soon(ready.set)
            loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("the procrastinate worker stopped")
        finally:
            ready.set()
            loop.close()

    async def _work(self) -> None:
        async with self.app.open_async():
            stalls = asyncio.create_task(self._retry_stalled())
            try:
                await self.app.run_worker_async(
                    queues=[QUEUE], concurrency=self.concurrency, install_signal_handlers=False,
                    update_heartbeat_interval=self.heartbeat_s, stalled_worker_timeout=self.stalled_s,
                    shutdown_graceful_timeout=30, delete_jobs="successful")
            finally:
                stalls.cancel()

    async def _retry_stalled(self) -> None:
        """procrastinate's documented recovery: jobs of workers without a heartbeat go back to the queue."""
        while True:
            await asyncio.sleep(max(self.heartbeat_s, 0.2))
            try:
                for job in await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_s):
                    log.warning("job %s of a dead worker is retried", job.id)
                    await self.app.job_manager.retry_job(job)
                await self.app.job_manager.prune_stalled_workers(self.stalled_s)
            except Exception:  # the database away for a moment: look again next time
                log.exception("could not look for stalled jobs")

    def stop(self, timeout: float = 30.0) -> None:
        """Jobs stop at their next milestone, handed back (resumable); then procrastinate shuts down."""
        with self._lock:
            for worker in self._running:
                worker._stop.set()  # JobWorker's own way to hand a job back at a milestone
        if self._loop is not None and self._main is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._main.cancel)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
