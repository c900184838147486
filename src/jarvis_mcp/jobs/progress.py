"""Progress notifications from a sync tool (run by the SDK on a worker thread) to its MCP client."""

from __future__ import annotations

import logging

import anyio.from_thread
from mcp.server.mcpserver import Context

from jarvis_mcp.jobs.ports import Progress

log = logging.getLogger(__name__)


def notifier(ctx: Context) -> Progress:
    """report_progress sent from the event loop; a client that gave no progress token gets nothing (the
    SDK drops it), and a failure to notify never fails the work it reports on."""

    def report(done: int, total: int | None, message: str) -> None:
        try:
            anyio.from_thread.run(ctx.report_progress, float(done), None if total is None else float(total), message)
        except Exception:
            log.debug("could not report progress", exc_info=True)

    return report
