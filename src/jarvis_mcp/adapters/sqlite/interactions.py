"""Interactions in the SQLite store (mixed into SqliteStore): which contact (or raw address) took part in
which memory, conversation, email, event or call. Every statement filters on user_id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jarvis_mcp.timeline.ports import InteractionRecord

_COLUMNS = "party, kind, ref, at, summary"


def _record(row: Sequence[Any]) -> InteractionRecord:
    party, kind, ref, at, summary = row
    return InteractionRecord(party=party, kind=kind, ref=ref, at=float(at), summary=summary)


class InteractionTables:
    db: Any  # adapters.sqlite.database.Database, provided by SqliteStore

    def interaction_add(self, user_id: str, records: Sequence[InteractionRecord]) -> None:
        with self.db.transaction() as conn:
            for r in records:
                conn.execute(
                    f"INSERT INTO interactions (user_id, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (user_id, party, kind, ref) DO UPDATE SET at = excluded.at, summary = excluded.summary",
                    (user_id, r.party, r.kind, r.ref, r.at, r.summary),
                )

    def interaction_list(self, user_id: str, parties: Sequence[str], kinds: Sequence[str],
                         since: float | None, until: float | None, limit: int) -> list[InteractionRecord]:
        if not parties or not kinds:
            return []
        # One indexed walk per party (newest first, stopping at `limit`), merged: a busy contact's
        # thousands of links are never all read and sorted.
        sql = (f"SELECT {_COLUMNS} FROM interactions WHERE user_id = ? AND party = ? "
               f"AND kind IN ({','.join('?' * len(kinds))}) AND at >= ? AND at <= ? ORDER BY at DESC LIMIT ?")
        low = since if since is not None else float("-inf")
        high = until if until is not None else float("inf")
        rows = [row for party in dict.fromkeys(parties)
                for row in self.db.conn.execute(sql, (user_id, party, *kinds, low, high, limit)).fetchall()]
        rows.sort(key=lambda row: (-row[3], row[2]))
        return [_record(row) for row in rows[:limit]]

    def interaction_last(self, user_id: str, parties: Sequence[str]) -> dict[str, InteractionRecord]:
        out = {}
        for party in dict.fromkeys(parties):
            row = self.db.conn.execute(
                f"SELECT {_COLUMNS} FROM interactions WHERE user_id = ? AND party = ? ORDER BY at DESC LIMIT 1",
                (user_id, party)).fetchone()
            if row:
                out[party] = _record(row)
        return out
