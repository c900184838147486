"""`jarvis-mcp reindex`: the progress bar on stderr, the report on stdout (like cli_data.py's commands)."""

from __future__ import annotations

import sys
import time

from jarvis_mcp.config import Settings
from jarvis_mcp.reindex.service import ReindexReport


class _Bar:
    """A bar redrawn at most ten times a second: 10k rows would otherwise be 10k writes to the terminal."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        filled = int(30 * min(done, total) / total) if total else 30
        print(f"\r[{'#' * filled:<30}] {done}/{total} embedded", end="", file=sys.stderr, flush=True)


def reindex_command(settings: Settings, *, batch: int, database_url: str | None) -> int:
    from jarvis_mcp.bootstrap import open_reindex

    if batch < 1:
        print("jarvis-mcp: --batch: must be at least 1", file=sys.stderr)
        return 2
    reindexer = open_reindex(settings, database_url=database_url, batch=batch)
    try:
        try:
            report = reindexer.run(progress=_Bar())
        except KeyboardInterrupt:
            print("\njarvis-mcp: reindex interrupted; run it again to continue where it stopped", file=sys.stderr)
            return 130
        except Exception as exc:
            print(f"\njarvis-mcp: reindex stopped ({type(exc).__name__}: {exc}); nothing is lost and servers "
                  "still use the old vectors: run it again to continue where it stopped", file=sys.stderr)
            return 1
    finally:
        reindexer.close()
    print(file=sys.stderr)
    print(describe(report))
    return 0


def describe(r: ReindexReport) -> str:
    if not r.switched:
        return f"the store already uses {r.model_id} (dimension {r.dim}); nothing to do"
    rate = r.embedded / r.seconds if r.seconds > 0 else 0.0
    parts = [f"moved from {r.previous or 'no model'} to {r.model_id} (dimension {r.dim}): {r.embedded} rows embedded "
             f"in {r.seconds:.1f} s ({rate:.0f}/s)"]
    if r.resumed:
        parts.append(f"{r.resumed} done by an earlier run")
    if r.caught_up or r.dropped:
        parts.append(f"{r.caught_up} written and {r.dropped} deleted during the run, taken into account")
    return "; ".join(parts) + ". Restart servers with this embedder; ones still on the old model now refuse."
