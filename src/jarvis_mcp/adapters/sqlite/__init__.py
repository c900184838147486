"""The embedded default: one SQLite file (WAL) with FTS5 keywords and sqlite-vec vectors."""

from jarvis_mcp.adapters.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
