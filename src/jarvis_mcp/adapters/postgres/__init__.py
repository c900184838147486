"""PostgreSQL / Supabase: the store (Row Level Security per user) and the numpy or pgvector index."""

from __future__ import annotations

from typing import Literal

from jarvis_mcp.adapters.postgres.database import Database
from jarvis_mcp.adapters.postgres.migrate import MigrateReport, latest_version, migrate
from jarvis_mcp.adapters.postgres.pgvector import PgVectorIndex
from jarvis_mcp.adapters.postgres.store import PostgresStore
from jarvis_mcp.config import ConfigError
from jarvis_mcp.memory.ports import VectorIndex

__all__ = ["MigrateReport", "PgVectorIndex", "PostgresStore", "migrate", "open_postgres"]


def open_postgres(url: str, *, vector_index: Literal["auto", "numpy", "pgvector"], pool_size: int = 10,
                  vector_cache_bytes: int = 2 << 30) -> tuple[PostgresStore, VectorIndex]:
    """Connect, check the schema and the role, and pick the vector index; ConfigError says what is wrong."""
    db = Database(url, pool_size=pool_size)
    try:
        db.check_schema(latest_version())
        db.check_role()
        schema = db.extension_schema("vector")
        has_column = schema is not None and db.has_column("jarvis.memories", "embedding_vec")
        if vector_index == "pgvector" and not has_column:
            missing = ("the pgvector extension ('vector') is not installed" if schema is None
                       else "pgvector is installed but the migration has not added its column")
            raise ConfigError(
                f"JARVIS_VECTOR_INDEX=pgvector: in {db.where} {missing}; install the extension "
                "(Supabase: Database > Extensions > vector) and run `jarvis-mcp migrate`, or use "
                "JARVIS_VECTOR_INDEX=numpy"
            )
        store = PostgresStore(db, vector_cache_bytes=vector_cache_bytes, vector_schema=schema if has_column else None)
    except BaseException:
        db.close()
        raise
    use_pgvector = has_column and vector_index in ("pgvector", "auto")
    index: VectorIndex = PgVectorIndex(db, schema) if use_pgvector and schema else store
    return store, index
