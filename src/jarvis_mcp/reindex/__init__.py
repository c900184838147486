"""Moving a store's vectors to another embedding model (`jarvis-mcp reindex`): see service.py."""

from jarvis_mcp.reindex.service import BATCH, Reindexer, ReindexReport

__all__ = ["BATCH", "ReindexReport", "Reindexer"]
