"""The hosted job queue (procrastinate on Postgres): the cost of adding a job, how fast two workers drain
no-op jobs, and how long an idle worker takes to start one. Needs the local PostgreSQL (tests/pgtest.py
makes and drops its own database).

    .venv/bin/python tools/bench_jobs_postgres.py [--jobs 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pgtest import fresh_database, system_cluster  # noqa: E402

from jarvis_mcp.adapters.postgres.database import Database  # noqa: E402
from jarvis_mcp.adapters.postgres.jobs import PostgresJobQueue  # noqa: E402
from jarvis_mcp.adapters.postgres.procrastinate_queue import ProcrastinateWorker  # noqa: E402
from jarvis_mcp.jobs.ports import NewJob  # noqa: E402
from jarvis_mcp.jobs.service import JobWorker  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    n = parser.parse_args().jobs
    with fresh_database(system_cluster()) as pg:
        queues = PostgresJobQueue(Database(pg.app_url)), PostgresJobQueue(Database(pg.app_url))
        user = str(uuid.uuid4())
        with psycopg.connect(pg.owner_url) as conn:
            conn.execute("INSERT INTO jarvis.users (id, created_at, updated_at) VALUES (%s, 0, 0)", (user,))
        done: dict[int, float] = {}

        def noop(_user: str, payload: dict, _progress: object) -> dict:
            done[payload["i"]] = time.time()
            return {}

        adds = []
        for i in range(n):
            start = time.perf_counter()
            queues[0].enqueue(user, NewJob("noop", {"i": i}))
            adds.append(time.perf_counter() - start)
        workers = [ProcrastinateWorker(q, lambda qq: JobWorker(qq, {"noop": noop})) for q in queues]
        start = time.time()
        for worker in workers:
            worker.start()
        while len(done) < n:
            time.sleep(0.01)
        drain = time.time() - start
        waits = []
        for i in range(n, n + 50):
            start = time.time()
            queues[0].enqueue(user, NewJob("noop", {"i": i}))
            while i not in done:
                time.sleep(0.002)
            waits.append(done[i] - start)
        for worker in workers:
            worker.stop()
    print(f"add a job (row + procrastinate job, one transaction), n={n}: "
          f"p50 {statistics.median(adds) * 1e3:.2f} ms, p95 {pct(adds, .95) * 1e3:.2f} ms")
    print(f"drain {n} no-op jobs with 2 workers: {drain:.2f} s = {n / drain:.0f} jobs/s")
    print(f"added -> running on an idle worker, n=50: p50 {statistics.median(waits) * 1e3:.1f} ms, "
          f"p95 {pct(waits, .95) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
