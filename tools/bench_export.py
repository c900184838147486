"""`jarvis-mcp export conversations`: time to build the JSONL by number of logged conversations, without a
filter and with the sentiment filter (each conversation labelled by the local lexicon). Median and p95 of
--runs runs; another user's conversations share the store so the per-user reads are exercised.

    .venv/bin/python tools/bench_export.py                      # 100 and 1000 conversations
    .venv/bin/python tools/bench_export.py --sizes 50 --runs 3
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import load_average, markdown_table, summary_ms  # noqa: E402

from jarvis_mcp.bootstrap import open_runtime  # noqa: E402
from jarvis_mcp.config import Settings  # noqa: E402
from jarvis_mcp.export.service import ExportFilter, ExportService, ExportStats, to_jsonl  # noqa: E402
from jarvis_mcp.memory.service import Turn  # noqa: E402

SAID = ["¡Gracias! La reunión con Laura salió genial.", "Estoy harto, el pedido llegó tarde otra vez.",
        "Can you move my dentist appointment to Friday?", "This is awful, the invoice is wrong again.",
        "Recuérdame llamar a Bruno el lunes.", "Great news, the contract is signed!"]
REPLIED = ["De acuerdo, lo apunto.", "Done: moved to Friday at 10:00.", "Lo siento, preparo una reclamación.",
           "Noted. I'll remind you on Monday."]


def fill(rt, user_id: str, n: int, rng: random.Random) -> None:  # noqa: ANN001 - a Runtime
    memory = rt.scope_for(user_id).memory
    for _ in range(n):
        turns = []
        for _ in range(rng.randint(1, 3)):
            turns += [Turn(role="user", content=rng.choice(SAID)), Turn(role="assistant", content=rng.choice(REPLIED))]
        memory.log_conversation(turns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as home:
            rt = open_runtime(Settings(home=Path(home)))
            try:
                me = rt.local_user_id()
                other = rt.store.user_for_identity("local", "other", "local", None)
                rng = random.Random(size)
                fill(rt, me, size, rng)
                fill(rt, other, size, rng)
                for name, flt in (("all", ExportFilter()), ("--sentiment negative", ExportFilter(sentiment="negative"))):
                    service = ExportService(me, rt.store, rt.scope_for(me).sentiment)
                    samples, chars = [], 0
                    for _ in range(args.runs):
                        t0 = time.perf_counter()
                        stats = ExportStats()
                        chars = len("".join(to_jsonl(e) for e in service.examples(flt, stats)))
                        samples.append(time.perf_counter() - t0)
                    s = summary_ms(samples)
                    rows.append((size, name, stats.exported, chars // 1024, s["p50"], s["p95"]))
            finally:
                rt.close()
    print(f"load average: {load_average()}")
    print(markdown_table(["conversations", "filter", "exported", "KiB", "p50 ms", "p95 ms"], rows))


if __name__ == "__main__":
    main()
