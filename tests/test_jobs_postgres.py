"""The job queue on Postgres (hosted mode), run by procrastinate: two workers, each with its own pool as
two server processes would have, share one queue; every job runs exactly once; a worker process killed
mid-job (SIGKILL) has its job retried by another through procrastinate's stalled-job recovery; Row Level
Security keeps each user's jobs their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pgtest import PgDatabase, fresh_database, system_cluster

from jarvis_mcp.adapters.postgres.jobs import PostgresJobQueue
from jarvis_mcp.adapters.postgres.procrastinate_queue import ProcrastinateWorker
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.errors import NotFound
from jarvis_mcp.jobs.ports import NewJob, RetryLater
from jarvis_mcp.jobs.service import JobService, JobWorker
from jarvis_mcp.runtime import Runtime

FAST = {"heartbeat_s": 0.2, "stalled_s": 1.0}


def runs(handlers: dict[str, Any]) -> Callable[[Any], JobWorker]:
    """The runtime's runner: each job by JobWorker's rules (progress, RetryLater, errors)."""
    return lambda queue: JobWorker(queue, handlers)


@pytest.fixture(scope="module")
def pgdb() -> Iterator[PgDatabase]:
    with fresh_database(system_cluster()) as db:
        yield db


@pytest.fixture
def runtimes(tmp_path: Path, pgdb: PgDatabase, embedder) -> Iterator[list[Runtime]]:
    opened = [open_runtime(Settings(home=tmp_path / f"p{i}", user="alice", store="postgres",  # type: ignore[arg-type]
                                    database_url=pgdb.app_url), embedder=embedder) for i in (1, 2)]
    yield opened
    for rt in opened:
        rt.close()


@pytest.fixture
def workers() -> Iterator[list[ProcrastinateWorker]]:
    started: list[ProcrastinateWorker] = []
    yield started
    for w in started:
        w.stop(10)


def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.time() + timeout
    while not check():
        assert time.time() < end, "timed out"
        time.sleep(0.05)


def test_two_workers_share_the_queue_and_run_each_job_once(runtimes: list[Runtime], workers: list[ProcrastinateWorker]) -> None:
    one, two = runtimes
    assert isinstance(one.jobs, PostgresJobQueue) and isinstance(two.jobs, PostgresJobQueue)
    alice = one.local_user_id()
    ran: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(name: str) -> Any:
        def handler(user_id: str, payload: dict[str, Any], progress: Any) -> dict[str, Any]:
            progress(1, 2, "half way")
            time.sleep(0.05)
            with lock:
                ran.append((name, payload["n"]))
            return {"n": payload["n"], "by": name}
        return {"count": handler}

    service = JobService(alice, one.jobs)
    ids = [service.enqueue(NewJob("count", {"n": str(i)})).id for i in range(20)]
    for rt, name in ((one, "one"), (two, "two")):
        workers.append(ProcrastinateWorker(rt.jobs, runs(work(name)), **FAST))  # type: ignore[arg-type]
        workers[-1].start()
    until(lambda: all(JobService(alice, two.jobs).get(i).status == "done" for i in ids))
    time.sleep(0.3)  # nothing runs a second time
    assert Counter(n for _, n in ran) == Counter(str(i) for i in range(20))  # each once
    assert {name for name, _ in ran} == {"one", "two"}  # both processes took work
    for job_id in ids:
        info = JobService(alice, two.jobs).get(job_id)
        assert info.status == "done" and info.done == info.total == 2 and info.result is not None


_DYING = textwrap.dedent("""
    import sys, time
    from jarvis_mcp.adapters.postgres.database import Database
    from jarvis_mcp.adapters.postgres.jobs import PostgresJobQueue
    from jarvis_mcp.adapters.postgres.procrastinate_queue import ProcrastinateWorker
    from jarvis_mcp.jobs.service import JobWorker
    def hang(user_id, payload, progress):
        progress(1, 3, "started")
        time.sleep(600)
    w = ProcrastinateWorker(PostgresJobQueue(Database(sys.argv[1])), lambda q: JobWorker(q, {"hang": hang}), heartbeat_s=0.2, stalled_s=1.0)
    w.start()
    time.sleep(600)
""")


def test_a_killed_workers_job_is_retried_by_another(runtimes: list[Runtime], workers: list[ProcrastinateWorker],
                                                    pgdb: PgDatabase) -> None:
    one, two = runtimes
    assert one.jobs is not None and two.jobs is not None
    alice = one.local_user_id()
    job = JobService(alice, one.jobs).enqueue(NewJob("hang", {"n": "x"}))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", _DYING, pgdb.app_url], env=env)
    try:
        until(lambda: JobService(alice, one.jobs).get(job.id).message == "started")  # type: ignore[arg-type]
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # dies mid-job, holding it
        proc.wait(10)
    assert JobService(alice, one.jobs).get(job.id).status == "running"
    workers.append(ProcrastinateWorker(two.jobs, runs({"hang": lambda u, p, progress: {"ok": True}}), **FAST))  # type: ignore[arg-type]
    workers[-1].start()
    until(lambda: JobService(alice, two.jobs).get(job.id).status == "done")  # type: ignore[arg-type]
    info = JobService(alice, one.jobs).get(job.id)
    assert info.result == {"ok": True} and info.error is None
    assert one.jobs.get_job(alice, job.id).attempts == 2  # type: ignore[union-attr]


def test_another_users_job_is_missing_under_rls(runtimes: list[Runtime]) -> None:
    one, _ = runtimes
    assert one.jobs is not None
    alice = one.local_user_id()
    bob = one.store.user_for_identity("local", "bob", "local", None)
    job = JobService(alice, one.jobs).enqueue(NewJob("count", {"n": "secret"}))
    with pytest.raises(NotFound, match=f"job not found: {job.id}"):
        JobService(bob, one.jobs).get(job.id)
    # Even asked with Alice's id in the WHERE clause, Bob's transaction sees no row (RLS, not the filter).
    with one.store.db.read(bob) as conn:  # type: ignore[attr-defined]
        assert conn.execute("SELECT count(*) FROM jarvis.jobs").fetchone()[0] == 0


def test_a_deferred_job_waits_and_a_call_tracked_job_is_taken_over(runtimes: list[Runtime],
                                                                  workers: list[ProcrastinateWorker]) -> None:
    one, two = runtimes
    assert one.jobs is not None and two.jobs is not None
    alice = one.local_user_id()
    calls: list[tuple[str, float]] = []

    def flaky(user_id: str, payload: dict[str, Any], progress: Any) -> dict[str, Any]:
        calls.append((payload["n"], time.time()))
        if len(calls) == 1:
            raise RetryLater("index down", 0.5)
        return {"ok": True}

    job = JobService(alice, one.jobs).enqueue(NewJob("flaky", {"n": "1"}))
    workers.append(ProcrastinateWorker(two.jobs, runs({"flaky": flaky, "count": lambda u, p, g: {}}), **FAST))  # type: ignore[arg-type]
    workers[-1].start()
    until(lambda: JobService(alice, one.jobs).get(job.id).status == "done")  # type: ignore[arg-type]
    assert [n for n, _ in calls] == ["1", "1"] and calls[1][1] - calls[0][1] >= 0.45  # waited its delay
    # A job a tool call runs itself, whose process died: the lease runs out, another process finishes it.
    tracked = one.jobs.start(alice, NewJob("flaky", {"n": "2"}), "call-dead", 0.3)
    assert tracked.status == "running"
    until(lambda: JobService(alice, two.jobs).get(tracked.id).status == "done")  # type: ignore[arg-type]
    assert not one.jobs.finish(alice, tracked.id, "call-dead", {"ok": False}, None)  # the dead call's result is refused


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_runtimes_worker_indexes_a_big_document_through_procrastinate(runtimes: list[Runtime], monkeypatch,
                                                                           lang: str) -> None:
    from jarvis_mcp.documents import service as documents_service

    monkeypatch.setattr(documents_service, "QUEUE_ABOVE_CHARS", 2_000)  # the real threshold, made small
    one = runtimes[0]  # the other runtime has its own JARVIS_HOME, so not this document's file
    one.start_worker()  # as a server process does: procrastinate's worker, not JobWorker's loop
    assert isinstance(one.worker, ProcrastinateWorker)
    alice = one.local_user_id()
    line = ("The rent is paid on the first day of the month. " if lang == "en"
            else "El alquiler se paga el primer día del mes. ")
    added = one.scope_for(alice).documents.add("Contract", text=line * 150)
    assert added.job_id and added.passages == 0
    until(lambda: JobService(alice, one.jobs).get(added.job_id).status in ("done", "failed"))  # type: ignore[arg-type]
    info = JobService(alice, one.jobs).get(added.job_id)  # type: ignore[arg-type]
    assert info.status == "done" and info.result is not None and info.result["passages"] > 0, info.error
    assert info.done == info.total == info.result["passages"]
