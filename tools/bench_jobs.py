"""What a person waits for when a document is added, and what the job queue itself costs.

    .venv/bin/python tools/bench_jobs.py                          # 20k / 55k / 120k characters, 1k and 10k jobs
    .venv/bin/python tools/bench_jobs.py --sizes 20000 120000 --reps 2 --jobs 1000

1. add_document through the service as a server runs it (a worker thread in the process): how long the
   call takes to answer for each document size (p50/p95 over --reps), whether it answered inline or
   with a job, and for queued ones how long until get_job says done. The threshold (documents/service.py
   QUEUE_ABOVE_CHARS) is meant to keep every answer well under a client's 60 s.
2. The SQLite queue: enqueue, claim and finish latency (p50/p95) with --jobs rows already in the table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_common import load_average, markdown_table, summary_ms

from jarvis_mcp.adapters.sqlite.jobs import SqliteJobQueue
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.documents.service import QUEUE_ABOVE_CHARS
from jarvis_mcp.jobs.ports import NewJob

SENTENCES = [
    "The tenant pays the rent on the first day of each month by bank transfer.",
    "El inquilino se compromete a mantener el jardín y la terraza en buen estado.",
    "Either party may end the lease with two months' notice in writing.",
    "Los gastos de comunidad corren a cargo del propietario salvo pacto en contrario.",
]


def document(chars: int, salt: int) -> str:
    parts, n, i = [], 0, 0
    while n < chars:
        line = f"{salt}.{i} {SENTENCES[i % len(SENTENCES)]}"
        parts.append(line + ("\n\n" if i % 5 == 4 else " "))
        n += len(line) + 1
        i += 1
    return "".join(parts)[:chars]


def bench_add(home: Path, sizes: list[int], reps: int) -> list[list[object]]:
    settings = Settings(home=home)
    rt = open_runtime(settings)
    rt.start_worker()
    try:
        scope = rt.scope_for(rt.local_user_id())
        rows: list[list[object]] = []
        for size in sizes:
            answers, done_after, mode = [], [], "inline"
            for rep in range(reps):
                text = document(size, rep * 1000 + size)
                started = time.perf_counter()
                added = scope.documents.add(f"Doc {size} {rep}", text=text)
                answers.append(time.perf_counter() - started)
                if added.job_id:
                    mode = "queued"
                    while (info := scope.jobs.get(added.job_id)).status not in ("done", "failed"):
                        time.sleep(0.1)
                    assert info.status == "done", info.error
                    done_after.append(time.perf_counter() - started)
            s = summary_ms(answers)
            rows.append([size, mode, f"{s['p50'] / 1000:.2f}", f"{s['p95'] / 1000:.2f}",
                         f"{summary_ms(done_after)['p50'] / 1000:.1f}" if done_after else "-"])
        return rows
    finally:
        rt.close()


def bench_queue(home: Path, jobs: int) -> list[list[object]]:
    rt = open_runtime(Settings(home=home))
    try:
        queue = SqliteJobQueue(rt.store.db)  # type: ignore[attr-defined]
        user = rt.local_user_id()
        for i in range(jobs):  # the backlog: finished jobs of the past, as a long-running store keeps
            rec = queue.enqueue(user, NewJob("noop", {"n": i}))
            claimed = queue.claim("filler", 60, 3)
            assert claimed is not None and claimed.id == rec.id
            queue.finish(user, rec.id, "filler", {}, None)
        enq, claim, fin = [], [], []
        for i in range(200):
            t0 = time.perf_counter()
            rec = queue.enqueue(user, NewJob("noop", {"n": i}))
            t1 = time.perf_counter()
            claimed = queue.claim("bench", 60, 3)
            t2 = time.perf_counter()
            assert claimed is not None
            queue.finish(user, rec.id, "bench", {}, None)
            t3 = time.perf_counter()
            enq.append(t1 - t0)
            claim.append(t2 - t1)
            fin.append(t3 - t2)
        return [[jobs, name, f"{summary_ms(s)['p50']:.2f}", f"{summary_ms(s)['p95']:.2f}"]
                for name, s in (("enqueue", enq), ("claim", claim), ("finish", fin))]
    finally:
        rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 55_000, 120_000])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1_000, 10_000])
    args = parser.parse_args()
    print(f"load average: {load_average()}; queue threshold {QUEUE_ABOVE_CHARS} characters\n")
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_add(Path(tmp) / "add", args.sizes, args.reps)
    print(markdown_table(["characters", "answered", "answer p50 s", "answer p95 s", "done after s (p50)"], rows))
    print()
    rows = []
    for n in args.jobs:
        with tempfile.TemporaryDirectory() as tmp:
            rows += bench_queue(Path(tmp) / "queue", n)
    print(markdown_table(["jobs stored", "operation", "p50 ms", "p95 ms"], rows))
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
