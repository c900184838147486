"""Interactions in the Postgres store (mixed into PostgresStore); mirrors the SQLite store's. Every
statement filters on user_id and runs under that user's claims (RLS)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jarvis_mcp.adapters.postgres.database import Database
from jarvis_mcp.timeline.ports import InteractionRecord

_COLUMNS = "party, kind, ref, at, summary"


def _record(row: Sequence[Any]) -> InteractionRecord:
    party, kind, ref, at, summary = row
    return InteractionRecord(party=party, kind=kind, ref=ref, at=float(at), summary=summary)


class InteractionTables:
    db: Database

    def interaction_add(self, user_id: str, records: Sequence[InteractionRecord]) -> None:
        if not records:
            return
        with self.db.session(user_id) as conn:
            for r in records:
                conn.execute(
                    f"INSERT INTO jarvis.interactions (user_id, {_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (user_id, party, kind, ref) DO UPDATE SET at = excluded.at, summary = excluded.summary",
                    (user_id, r.party, r.kind, r.ref, r.at, r.summary),
                )

    def interaction_list(self, user_id: str, parties: Sequence[str], kinds: Sequence[str],
                         since: float | None, until: float | None, limit: int) -> list[InteractionRecord]:
        if not parties or not kinds:
            return []
        # One indexed walk per party (newest first, stopping at `limit`), merged: a busy contact's
        # thousands of links are never all read and sorted.
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                f"SELECT i.party, i.kind, i.ref, i.at, i.summary FROM unnest(%s::text[]) AS p(party), LATERAL ("
                f"SELECT {_COLUMNS} FROM jarvis.interactions x WHERE x.user_id = %s AND x.party = p.party "
                "AND x.kind = ANY(%s) AND (%s::float8 IS NULL OR x.at >= %s) AND (%s::float8 IS NULL OR x.at <= %s) "
                "ORDER BY x.at DESC LIMIT %s) i ORDER BY i.at DESC, i.ref LIMIT %s",
                (list(dict.fromkeys(parties)), user_id, list(kinds), since, since, until, until, limit, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def interaction_last(self, user_id: str, parties: Sequence[str]) -> dict[str, InteractionRecord]:
        if not parties:
            return {}
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                f"SELECT i.party, i.kind, i.ref, i.at, i.summary FROM unnest(%s::text[]) AS p(party), LATERAL ("
                f"SELECT {_COLUMNS} FROM jarvis.interactions x WHERE x.user_id = %s AND x.party = p.party "
                "ORDER BY x.at DESC LIMIT 1) i", (list(dict.fromkeys(parties)), user_id)).fetchall()
        return {row[0]: _record(row) for row in rows}
