"""analyze_sentiment(contact=...) latency with the user's data size: the local analyzer end to end.

    .venv/bin/python tools/bench_sentiment.py                       # 1,000 / 10,000 / 50,000 memories
    .venv/bin/python tools/bench_sentiment.py --sizes 1000 --runs 10

One user holds N synthetic memories (Spanish and English, client and family messages); one in ten
mentions the measured contact, the rest other people. Her outbox holds 50 emails to the contact. Each run
resolves the contact, finds the memories that mention her (keyword search, then the mention check), reads
the outbox, labels every message and builds the monthly trend: SentimentService.analyze as the tool calls
it. Vectors are hashed bags of words (bench_common.HashedVectors): the search here is the keyword one, so
they only fill the store.
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

from bench_common import HashedVectors, summary_ms  # noqa: E402

from jarvis_mcp.actions.ports import NewOutbox  # noqa: E402
from jarvis_mcp.bootstrap import open_runtime  # noqa: E402
from jarvis_mcp.config import Settings  # noqa: E402
from jarvis_mcp.memory.ports import NewMemory  # noqa: E402
from jarvis_mcp.text import content_hash  # noqa: E402

PEOPLE = ["Laura", "Pedro", "Marta", "Jorge", "Ana", "Mark", "Carol", "George"]
TEMPLATES = [
    "Llamada con {p}: muy contenta con la entrega, quiere ampliar el contrato",
    "{p} se queja del retraso y de los errores en la factura",
    "Reunión con {p} el martes a las 10 para revisar la propuesta",
    "{p} loved the demo and thanked the whole team",
    "Call with {p}: upset about the delay, threatening to cancel",
    "{p} asked for the invoice breakdown by Friday",
    "Genial, {p} otra vez llega tarde a la reunión",
    "{p} dice que el nuevo diseño no está nada mal",
]


class Vectors(HashedVectors):
    model_id = "bench-hashed-384"

    def __init__(self) -> None:
        super().__init__(384)


def seed(runtime, user: str, n: int, rng: random.Random) -> None:  # noqa: ANN001 - Runtime
    store, vectors = runtime.store, runtime.embedder
    start = time.time() - 365 * 86_400
    for first in range(0, n, 2_000):
        items = []
        for i in range(first, min(n, first + 2_000)):
            who = "Laura García" if i % 10 == 0 else rng.choice(PEOPLE[1:])
            text = rng.choice(TEMPLATES).format(p=who) + f" (nota {i})"
            items.append(NewMemory(kind="note", text=text, content_hash=content_hash(text),
                                   occurred_at=start + rng.random() * 365 * 86_400))
        store.insert_memories(user, items, vectors.embed([m.text for m in items]))
    for i in range(50):
        args = {"recipients": [{"header": "to", "address": "laura@cliente.es", "name": "Laura García",
                                "contact_id": None}], "subject": f"Propuesta {i}",
                "body": rng.choice(["Gracias por tu paciencia, un placer", "Te envío la factura", "Siento el retraso"]),
                "html": False, "attachments": []}
        store.outbox_claim(user, NewOutbox("send_email", f"k{i}", f"h{i}", args, "email", (), "not_delivered"), 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print("| memories | mentioning her | items labelled | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as home:
            runtime = open_runtime(Settings(home=Path(home)), embedder=Vectors())
            try:
                user = runtime.local_user_id()
                seed(runtime, user, n, random.Random(n))
                runtime.scope_for(user).contacts.save(name="Laura García", emails=["laura@cliente.es"])
                samples, report = [], None
                for _ in range(args.runs):
                    scope = runtime.scope_for(user)  # a scope per request, as the server makes them
                    started = time.perf_counter()
                    report = scope.sentiment.analyze(contact="Laura García")
                    samples.append(time.perf_counter() - started)
                stats = summary_ms(samples)
                print(f"| {n:,} | {n // 10:,} | {report.total_items} | {stats['p50']} | {stats['p95']} |")
            finally:
                runtime.close()


if __name__ == "__main__":
    main()
