"""get_client_history and search_clients' last contact, by the number of links stored (SQLite).

    .venv/bin/python tools/bench_timeline.py                      # 1,000 / 10,000 / 100,000 links
    .venv/bin/python tools/bench_timeline.py --sizes 1000 --runs 20

One user, 200 contacts; N links (memory, conversation, email, event, call) spread over them and over raw
addresses, one in ten on the measured contact (Laura). Timed: TimelineService.history(contact, limit=20) as
the tool calls it (resolution by name, the indexed read, snippets; no inbox configured), and
search_clients' enrichment (with_last_contact) of a 10-hit search.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench_common import HashedVectors, load_average, summary_ms  # noqa: E402

from jarvis_mcp.bootstrap import open_runtime  # noqa: E402
from jarvis_mcp.config import Settings  # noqa: E402
from jarvis_mcp.timeline.ports import KINDS, InteractionRecord  # noqa: E402


class Vectors(HashedVectors):
    model_id = "bench-hashed-384"

    def __init__(self) -> None:
        super().__init__(384)


def seed(runtime, user: str, n: int, rng: random.Random) -> str:  # noqa: ANN001 - Runtime
    contacts = runtime.scope_for(user).contacts
    laura = contacts.save(name="Laura García", emails=["laura@cliente.es"]).contact.id
    others = [contacts.save(name=f"Cliente {i} Pérez", emails=[f"c{i}@example.com"]).contact.id for i in range(199)]
    start = time.time() - 2 * 365 * 86_400
    for first in range(0, n, 5_000):
        batch = []
        for i in range(first, min(n, first + 5_000)):
            party = laura if i % 10 == 0 else rng.choice(others) if i % 3 else f"raw{i % 500}@example.org"
            batch.append(InteractionRecord(party, rng.choice(KINDS), f"ref-{i}", start + rng.random() * 2 * 365 * 86_400,
                                           f"Nota {i}: reunión sobre la propuesta / meeting about the proposal"))
        runtime.store.interaction_add(user, batch)
    return laura


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    print(f"load average: {load_average()}")
    print("| links | hers | history p50 ms | history p95 ms | last contact (10 hits) p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as home:
            runtime = open_runtime(Settings(home=Path(home)), embedder=Vectors())
            try:
                user = runtime.local_user_id()
                seed(runtime, user, n, random.Random(n))
                history, last = [], []
                for _ in range(args.runs):
                    scope = runtime.scope_for(user)  # a scope per request, as the server makes them
                    started = time.perf_counter()
                    scope.timeline.history("Laura García", limit=20)
                    history.append(time.perf_counter() - started)
                    found = scope.contacts.search("Cliente", limit=10)
                    started = time.perf_counter()
                    scope.timeline.with_last_contact(found)
                    last.append(time.perf_counter() - started)
                h, s = summary_ms(history), summary_ms(last)
                print(f"| {n:,} | {n // 10:,} | {h['p50']} | {h['p95']} | {s['p50']} | {s['p95']} |")
            finally:
                runtime.close()


if __name__ == "__main__":
    main()
