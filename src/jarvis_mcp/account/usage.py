"""Usage limits and figures for one user: the check before every tool call, and jarvis://me/usage.

Tool calls come in two classes, each with its own per-minute, daily and monthly limits from the user's
tier: `read` (read-only tools) and `write` (every other tool: they store, change or send, and cost more
to serve, so tiers allow fewer of them). Each call counts one in its class; windows are calendar
minutes, days and months in UTC. A refused call runs nothing and is not audited.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Literal

from jarvis_mcp.account.models import CacheFigures, LimitStatus, UsageReport
from jarvis_mcp.account.ports import Limit, Limiter, Period, UserLimitsRecord, UserStore
from jarvis_mcp.account.service import AccountService
from jarvis_mcp.config import ClassLimits, Settings
from jarvis_mcp.errors import LimitExceeded
from jarvis_mcp.memory.query_cache import figures
from jarvis_mcp.ports import Cache

log = logging.getLogger(__name__)

ToolClass = Literal["read", "write"]
CLASSES: tuple[ToolClass, ...] = ("read", "write")
_PERIODS: tuple[tuple[str, Period, str], ...] = (
    ("per_minute", "minute", "per-minute"), ("daily", "day", "daily"), ("monthly", "month", "monthly"))
_CLASS_WORDS = {"read": "read-only tool calls", "write": "write tool calls"}
TIER_CACHE_SECONDS = 60.0  # how soon a changed tier takes effect
_last_limiter_error = [0.0]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def tool_class(read_only: bool) -> ToolClass:
    return "read" if read_only else "write"


class UsageService:
    def __init__(self, user_id: str, users: UserStore, account: AccountService, settings: Settings,
                 limiter: Limiter | None, cache: Cache | None) -> None:
        self.user_id = user_id
        self.users = users
        self.account = account
        self.settings = settings
        self.limiter = limiter
        self.cache = cache

    # -- the tier -------------------------------------------------------------------------------

    def _record(self) -> UserLimitsRecord | None:
        # Read on every metered call, so kept briefly in the cache.
        if self.cache is not None:
            raw = self.cache.get(self.user_id, "user_limits")
            if raw is not None:
                data = json.loads(raw)
                return UserLimitsRecord(data["tier"], data["overrides"]) if data else None
        rec = self.users.user_limits(self.user_id)
        if self.cache is not None:
            value = {"tier": rec.tier, "overrides": rec.overrides} if rec else None
            self.cache.set(self.user_id, "user_limits", json.dumps(value).encode(), TIER_CACHE_SECONDS)
        return rec

    def tier(self) -> tuple[str, dict[str, list[Limit]]]:
        """The tier's name and its limits per tool class, with the user's overrides applied."""
        rec = self._record()
        name = self.settings.effective_default_tier
        if rec is not None:
            if rec.tier in self.settings.tiers:
                name = rec.tier
            else:
                log.error("user %s is on unknown tier %r; using %r", self.user_id, rec.tier, name)
        tier = self.settings.tiers[name]
        overrides = rec.overrides if rec else {}
        limits: dict[str, list[Limit]] = {}
        for cls in CLASSES:
            numbers: ClassLimits = getattr(tier, cls)
            limits[cls] = []
            for field, period, word in _PERIODS:
                n = overrides.get(f"{cls}_{field}", getattr(numbers, field))
                if n is not None:
                    limits[cls].append(Limit(period, int(n), word))
        return name, limits

    # -- the check ------------------------------------------------------------------------------

    def admit(self, tool: str, *, read_only: bool) -> None:
        """Count one call of this tool's class, or raise LimitExceeded (and count nothing)."""
        if self.limiter is None:
            return
        cls = tool_class(read_only)
        name, limits = self.tier()
        if not limits[cls]:
            return
        try:
            decision = self.limiter.hit(self.user_id, cls, 1, limits[cls])
        except Exception:  # noqa: BLE001
            # The limiter's backend is down: serve unmetered rather than refuse everyone (logged, at most
            # once a minute per process).
            now = time.monotonic()
            if now - _last_limiter_error[0] > 60:
                _last_limiter_error[0] = now
                log.exception("usage limiter unavailable; serving without limits")
            return
        if not decision.allowed:
            limit = decision.limit
            assert limit is not None
            raise LimitExceeded(
                f"{limit.label} limit of {limit.max} {_CLASS_WORDS[cls]} reached for tier {name}; "
                f"it resets at {iso(decision.reset_at)} (tool {tool} was not run)"
            )

    # -- the figures ----------------------------------------------------------------------------

    def report(self, days: int = 30) -> UsageReport:
        base = self.account.usage(days)
        name, limits = self.tier()
        statuses = []
        if self.limiter is not None:
            for cls in CLASSES:
                for limit in limits[cls]:
                    d = self.limiter.hit(self.user_id, cls, 0, [limit])  # cost 0: look, charge nothing
                    statuses.append(LimitStatus(tool_class=cls, period=limit.period, limit=limit.max,
                                                used=d.used, remaining=d.remaining,
                                                resets_at=datetime.fromtimestamp(d.reset_at, UTC)))
        f = figures(self.cache, self.user_id)
        hits = f["search_hits"] + f["embedding_hits"]
        misses = f["search_misses"] + f["embedding_misses"]
        cache = CacheFigures(hits=hits, misses=misses, hit_rate=round(hits / (hits + misses), 4) if hits + misses else None,
                             **f)
        return UsageReport(**base.model_dump(), tier=name, limits=statuses, cache=cache)
