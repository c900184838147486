"""The job queue on Postgres (hosted mode): two workers, each with its own pool as two server processes
would have, share one queue; every job runs exactly once; a dead worker's job is taken over after its
lease; Row Level Security keeps each user's jobs their own."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pgtest import PgDatabase, fresh_database, system_cluster

from jarvis_mcp.adapters.postgres.jobs import PostgresJobQueue
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.errors import NotFound
from jarvis_mcp.jobs.ports import NewJob, RetryLater
from jarvis_mcp.jobs.service import JobService, JobWorker
from jarvis_mcp.runtime import Runtime


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


def test_two_workers_share_the_queue_and_run_each_job_once(runtimes: list[Runtime]) -> None:
    one, two = runtimes
    assert isinstance(one.jobs, PostgresJobQueue) and isinstance(two.jobs, PostgresJobQueue)
    alice = one.local_user_id()
    ran: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(name: str) -> Any:
        def handler(user_id: str, payload: dict[str, Any], progress: Any) -> dict[str, Any]:
            progress(1, 2, "half way")
            time.sleep(0.01)
            with lock:
                ran.append((name, payload["n"]))
            return {"n": payload["n"], "by": name}
        return {"count": handler}

    service = JobService(alice, one.jobs)
    ids = [service.enqueue(NewJob("count", {"n": str(i)})).id for i in range(20)]
    workers = [JobWorker(one.jobs, work("one")), JobWorker(two.jobs, work("two"))]

    def drain(worker: JobWorker) -> None:
        while worker.run_once() is not None:
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(n for _, n in ran) == Counter(str(i) for i in range(20))  # each once
    assert {name for name, _ in ran} == {"one", "two"}  # both processes took work
    for job_id in ids:
        info = JobService(alice, two.jobs).get(job_id)
        assert info.status == "done" and info.done == info.total == 2 and info.result is not None


def test_a_dead_workers_job_is_taken_over_after_its_lease(runtimes: list[Runtime]) -> None:
    one, two = runtimes
    assert one.jobs is not None and two.jobs is not None
    alice = one.local_user_id()
    job = JobService(alice, one.jobs).enqueue(NewJob("count", {"n": "x"}))
    dead = one.jobs.claim("dead-worker", 0.3, 3)  # process one dies holding it
    assert dead is not None and dead.id == job.id
    survivor = JobWorker(two.jobs, {"count": lambda u, p, progress: {"ok": True}})
    assert survivor.run_once() is None  # the lease still holds
    time.sleep(0.35)
    taken = survivor.run_once()
    assert taken is not None and taken.id == job.id and taken.attempts == 2
    assert not one.jobs.finish(alice, job.id, "dead-worker", {"ok": False}, None)
    assert JobService(alice, one.jobs).get(job.id).result == {"ok": True}


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


def test_a_deferred_job_waits_and_a_call_tracked_job_is_taken_over(runtimes: list[Runtime]) -> None:
    one, two = runtimes
    assert one.jobs is not None and two.jobs is not None
    alice = one.local_user_id()
    calls: list[str] = []

    def flaky(user_id: str, payload: dict[str, Any], progress: Any) -> dict[str, Any]:
        calls.append(payload["n"])
        if len(calls) == 1:
            raise RetryLater("index down", 0.3)
        return {"ok": True}

    worker = JobWorker(two.jobs, {"flaky": flaky})
    while worker.run_once() is not None:  # what earlier tests left in the module's database
        pass
    job = JobService(alice, one.jobs).enqueue(NewJob("flaky", {"n": "1"}))
    assert worker.run_once() is not None and JobService(alice, one.jobs).get(job.id).status == "queued"
    assert worker.run_once() is None  # not before its time
    time.sleep(0.35)
    assert worker.run_once() is not None and JobService(alice, one.jobs).get(job.id).status == "done"
    # A job a tool call runs itself, whose process died: the lease runs out, another process finishes it.
    tracked = one.jobs.start(alice, NewJob("flaky", {"n": "2"}), "call-dead", 0.0)
    assert tracked.status == "running"
    assert worker.run_once() is not None and JobService(alice, two.jobs).get(tracked.id).status == "done"
