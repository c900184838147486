"""The audit log of tool calls, written in batches by one thread.

Every tool call is audited; as one write transaction per call, 50 concurrent sessions spent most of their
time queued on SQLite's single write lock (the load test). Calls now only enqueue their row, one writer
commits every 50 ms, and readers of the log flush first, so this process always reads what it wrote.
Sensitive actions do not depend on this: they go through the outbox, written synchronously.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


class AuditBuffer:
    def __init__(self, db: Any, *, interval_s: float = 0.05) -> None:
        self.db = db
        self.interval_s = interval_s
        self._pending: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def add(self, user_id: str, tool: str, arguments: dict[str, object], status: str, error: str | None,
            duration_ms: float) -> None:
        now = time.time()
        row = (str(uuid.uuid4()), user_id, tool, json.dumps(arguments, default=str), status, error, now, duration_ms)
        with self._lock:
            self._pending.append(row)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="jarvis-audit", daemon=True)
                self._thread.start()
        self._wake.set()

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return
            usage: dict[tuple[str, str, str], list[int]] = {}
            for _, user_id, tool, _, status, _, at, _ in rows:
                day = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")
                counts = usage.setdefault((user_id, day, tool), [0, 0])
                counts[0] += 1
                counts[1] += int(status != "ok")
            with self.db.transaction() as conn:
                conn.executemany("INSERT INTO actions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                conn.executemany(
                    "INSERT INTO usage VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, day, tool) "
                    "DO UPDATE SET calls = calls + excluded.calls, errors = errors + excluded.errors",
                    [(*key, calls, errors) for key, (calls, errors) in usage.items()],
                )

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait()
            self._wake.clear()
            time.sleep(self.interval_s)  # gather the calls that arrive meanwhile into one transaction
            try:
                self.flush()
            except Exception:  # keep the writer alive; the rows of a failed batch are logged as lost
                log.exception("could not write a batch of audit entries")

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self.flush()
