"""Per-user usage limits in the SQLite store (mixed into SqliteStore)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from jarvis_mcp.account.ports import UserLimitsRecord

if TYPE_CHECKING:
    from jarvis_mcp.adapters.sqlite.database import Database

# The overridable numbers: <tool class>_<period>, as in settings' tiers.
LIMIT_COLUMNS = ("read_per_minute", "read_daily", "read_monthly", "write_per_minute", "write_daily", "write_monthly")


class LimitTables:
    db: Database

    def user_limits(self, user_id: str) -> UserLimitsRecord | None:
        row = self.db.conn.execute(
            f"SELECT tier, {', '.join(LIMIT_COLUMNS)} FROM user_limits WHERE user_id = ?", (user_id,)
        ).fetchone()
        if row is None:
            return None
        return UserLimitsRecord(str(row[0]), {c: int(v) for c, v in zip(LIMIT_COLUMNS, row[1:], strict=True)
                                              if v is not None})

    def set_user_limits(self, user_id: str, tier: str, overrides: dict[str, int | None] | None = None) -> None:
        """The operator's call (not part of the Store port): put a user on a tier, with overrides."""
        values = {c: None for c in LIMIT_COLUMNS}
        for name, value in (overrides or {}).items():
            if name not in values:
                raise ValueError(f"unknown limit {name!r}; one of {', '.join(LIMIT_COLUMNS)}")
            values[name] = value
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT INTO user_limits (user_id, tier, {', '.join(LIMIT_COLUMNS)}, updated_at) "
                f"VALUES (?, ?, {', '.join('?' * len(LIMIT_COLUMNS))}, ?) ON CONFLICT (user_id) DO UPDATE SET "
                f"tier = excluded.tier, {', '.join(f'{c} = excluded.{c}' for c in LIMIT_COLUMNS)}, "
                "updated_at = excluded.updated_at",
                (user_id, tier, *values.values(), time.time()),
            )
