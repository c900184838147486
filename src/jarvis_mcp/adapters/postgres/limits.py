"""Per-user usage limits in the Postgres store (mixed into PostgresStore). Read-only for the app role:
tiers are set by the operator, as the tables' owner (resources/migrations/postgres/0005_limits.sql)."""

from __future__ import annotations

from jarvis_mcp.account.ports import UserLimitsRecord
from jarvis_mcp.adapters.postgres.database import Database

LIMIT_COLUMNS = ("read_per_minute", "read_daily", "read_monthly", "write_per_minute", "write_daily", "write_monthly")


class LimitTables:
    db: Database

    def user_limits(self, user_id: str) -> UserLimitsRecord | None:
        with self.db.read(user_id) as conn:
            row = conn.execute(f"SELECT tier, {', '.join(LIMIT_COLUMNS)} FROM jarvis.user_limits WHERE user_id = %s",
                               (user_id,)).fetchone()
        if row is None:
            return None
        return UserLimitsRecord(str(row[0]), {c: int(v) for c, v in zip(LIMIT_COLUMNS, row[1:], strict=True)
                                              if v is not None})
