"""Latency of the /app pages (server-side render through each service, as the browser gets it), by data size.

    .venv/bin/python tools/bench_app_pages.py                        # 100 and 1000 memories
    .venv/bin/python tools/bench_app_pages.py --sizes 100 --reps 10  # quick

The local user on a loopback server without sign-in (the same pages and services a signed-in person
gets; the session lookup is one indexed row more). Per size N: N memories (embedded by the real model),
N/10 contacts, N/20 emails in the outbox (sent to the outbox mailer), 5 documents. Each page is fetched
`--reps` times after one warm-up; search pages run a different query each time."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from bench_common import load_average, markdown_table, summary_ms, synthetic_memories, synthetic_queries
from starlette.testclient import TestClient

from jarvis_mcp.config import Settings
from jarvis_mcp.memory.service import MemoryInput
from jarvis_mcp.server import build_server
from jarvis_mcp.web import http_app

PAGES = ("/app", "/app/activity", "/app/memories", "/app/documents", "/app/contacts", "/app/connections")


def seed(scope, n: int) -> None:  # noqa: ANN001 - a UserScope
    memories = synthetic_memories(n, seed=7)
    for start in range(0, n, 256):
        scope.memory.remember_many([MemoryInput(m.text, "note", list(m.tags), None) for m in memories[start:start + 256]])
    for i in range(n // 10):
        scope.contacts.save(name=f"Persona {i} Pérez", emails=[f"p{i}@example.com"], company=f"Acme {i % 7}")
    for i in range(max(1, n // 20)):
        scope.actions.submit(scope.mail.request_send([f"p{i % max(1, n // 10)}@example.com"], f"Hola {i}",
                                                     "Nos vemos el lunes."))
    for i in range(5):
        scope.documents.add(f"Documento {i}", text=f"Informe {i}: ventas del trimestre. " * 200)


def measure(client: TestClient, reps: int, queries: list[str]) -> list[list[object]]:
    rows: list[list[object]] = []
    targets = [(p, None) for p in PAGES] + [("/app/memories", "q"), ("/app/contacts", "q")]
    for path, param in targets:
        client.get(path)  # warm-up: templates compiled, caches filled
        samples = []
        for i in range(reps):
            params = {param: queries[i % len(queries)]} if param else None
            started = time.perf_counter()
            answer = client.get(path, params=params)
            samples.append(time.perf_counter() - started)
            assert answer.status_code == 200, (path, answer.status_code)
        s = summary_ms(samples)
        rows.append([path + ("?q=…" if param else ""), s["p50"], s["p95"], len(answer.content)])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print(f"load average before: {load_average()}")
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as home:
            mcp = build_server(Settings(home=Path(home)))
            with TestClient(http_app(mcp, host="127.0.0.1"), base_url="http://127.0.0.1:8765",
                            client=("127.0.0.1", 50000)) as client:
                runtime = mcp.shared.runtime
                started = time.perf_counter()
                seed(runtime.scope_for(runtime.local_user_id()), n)
                print(f"\n## {n} memories, {n // 10} contacts, {max(1, n // 20)} outbox rows, 5 documents "
                      f"(seeded in {time.perf_counter() - started:.1f} s)\n")
                rows = measure(client, args.reps, synthetic_queries(args.reps, seed=3))
                print(markdown_table(["page", "p50 ms", "p95 ms", "bytes"], rows))
    print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
