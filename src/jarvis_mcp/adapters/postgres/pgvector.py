"""PgVectorIndex: the VectorIndex port as a pgvector query over one user's rows.

An exact scan, not HNSW: the rows are first narrowed to the caller (index on user_id) and the filters,
then ranked by cosine distance, so a filtered search ranks exactly the rows that pass and recall is 1.
An approximate index over all users would rank first and filter after, losing a small user's rows
among everyone else's neighbours.
"""

from __future__ import annotations

import numpy as np

from jarvis_mcp.adapters.postgres.database import Database, retry_reads
from jarvis_mcp.adapters.postgres.migrate import vector_literal
from jarvis_mcp.adapters.postgres.store import filter_sql
from jarvis_mcp.memory.ports import MemoryFilter


@retry_reads
class PgVectorIndex:
    def __init__(self, db: Database, schema: str) -> None:
        self.db = db
        # The operator and type are schema-qualified: on Supabase the extension lives in `extensions`,
        # which need not be on the app role's search_path.
        self._distance = f'OPERATOR("{schema}".<=>)'
        self._type = f'"{schema}".vector'

    def search(self, user_id: str, vector: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        where, params = filter_sql(flt)
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                f"SELECT m.seq, m.embedding_vec {self._distance} q.v AS distance "
                f"FROM jarvis.memories m, (SELECT %s::{self._type} AS v) q "
                f"WHERE m.user_id = %s AND m.embedding_vec IS NOT NULL{where} "
                "ORDER BY distance, m.seq LIMIT %s",
                (vector_literal(vector), user_id, *params, limit),
            ).fetchall()
        return [(int(seq), 1.0 - float(distance)) for seq, distance in rows]
