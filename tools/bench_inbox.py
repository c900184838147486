"""search_email and read_email on a local Maildir and mbox: median and p95 latency by folder size.

Every local search reads the whole folder (headers first; bodies only when words are asked for), so the
cost grows with the folder: this says how much. Synthetic bilingual mail, built in a temporary folder.

    .venv/bin/python tools/bench_inbox.py                 # 1k and 5k messages
    .venv/bin/python tools/bench_inbox.py --sizes 500 20000 --runs 5
"""

from __future__ import annotations

import argparse
import mailbox
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from jarvis_mcp.adapters.inbox_maildir import MaildirInbox, MboxInbox
from jarvis_mcp.inbox.service import InboxService

SENDERS = ["Laura Gómez <laura@example.com>", "Bruno Díaz <bruno@example.com>", "Shop <news@shop.example>",
           "Ana López <ana@example.org>", "Pat Kelly <pat@example.com>"]
SUBJECTS = ["Revisión del presupuesto", "Factura de marzo", "Your invoice is ready", "Reunión del lunes",
            "Lunch on Friday?", "Contrato firmado", "Weekly newsletter", "Vacaciones de verano"]
WORDS = ["hola", "gracias", "presupuesto", "cocina", "factura", "reunión", "proyecto", "please", "thanks", "meeting", "invoice", "contract", "deadline", "viernes", "lunes", "semana", "equipo", "cliente", "update", "report"]


def message(i: int, rng: random.Random) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = rng.choice(SENDERS)
    msg["To"] = "me@example.org"
    msg["Subject"] = f"{rng.choice(SUBJECTS)} #{i}"
    msg["Date"] = format_datetime(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=37 * i))
    msg["Message-ID"] = f"<{uuid.uuid4()}@example.com>"
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 300)))
    if i % 5 == 0:
        msg.set_content(f"<html><body><p>{body}</p></body></html>", subtype="html")
    else:
        msg.set_content(body)
    return msg


def build(folder: Path, n: int) -> tuple[MaildirInbox, MboxInbox]:
    rng = random.Random(n)
    md = mailbox.Maildir(folder / "Mail", create=True)
    mb = mailbox.mbox(folder / "inbox.mbox", create=True)
    for i in range(n):
        raw = message(i, rng).as_bytes()
        item = mailbox.MaildirMessage(raw)
        if i % 3:
            item.set_subdir("cur")
            item.add_flag("S")
        md.add(item)
        mb.add(mailbox.mboxMessage(raw))
    mb.flush()
    mb.close()
    return MaildirInbox(folder / "Mail"), MboxInbox(folder / "inbox.mbox")


def timed(call, runs: int) -> tuple[float, float]:  # noqa: ANN001
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print("| folder | messages | operation | median ms | p95 ms |")
    print("|---|---:|---|---:|---:|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            boxes = build(Path(tmp), n)
            for box in boxes:
                svc = InboxService(str(uuid.uuid4()), lambda box=box: box)
                newest = svc.search(limit=1).emails[0].id
                ops = {
                    "search, no filter (20 newest)": lambda svc=svc: svc.search(),
                    "search sender + unread": lambda svc=svc: svc.search(sender="laura", unread=True),
                    "search words (bodies read)": lambda svc=svc: svc.search(query="presupuesto cocina"),
                    "read_email": lambda svc=svc, newest=newest: svc.read(newest),
                }
                for name, call in ops.items():
                    median, p95 = timed(call, args.runs)
                    print(f"| {box.provider} | {n} | {name} | {median:.1f} | {p95:.1f} |", flush=True)


if __name__ == "__main__":
    main()
