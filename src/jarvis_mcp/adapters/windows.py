"""Fixed calendar windows (UTC) for limits: the same arithmetic in every limiter, so every process that
shares a backend counts into the same window."""

from __future__ import annotations

from datetime import UTC, datetime

from jarvis_mcp.account.ports import Period


def window(period: Period, now: float) -> tuple[str, float]:
    """(window id, epoch seconds when the window ends) for the window holding `now`."""
    if period == "minute":
        n = int(now // 60)
        return f"m{n}", (n + 1) * 60.0
    t = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = datetime(t.year, t.month, t.day, tzinfo=UTC)
        return f"d{t:%Y%m%d}", start.timestamp() + 86_400.0
    if period == "month":
        end = datetime(t.year + 1, 1, 1, tzinfo=UTC) if t.month == 12 else datetime(t.year, t.month + 1, 1, tzinfo=UTC)
        return f"M{t:%Y%m}", end.timestamp()
    raise ValueError(f"unknown period {period!r}")
