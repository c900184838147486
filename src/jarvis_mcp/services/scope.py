"""UserScope: the services bound to one resolved user. Handlers get a scope, never a user id to swap."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from jarvis_mcp.config import Settings
from jarvis_mcp.ports import Embedder, Store, VectorIndex
from jarvis_mcp.services.account import AccountService
from jarvis_mcp.services.memory import MemoryService


@dataclass
class UserScope:
    user_id: str
    settings: Settings
    store: Store
    index: VectorIndex
    embedder: Embedder

    @cached_property
    def account(self) -> AccountService:
        return AccountService(self.user_id, self.store)

    @cached_property
    def memory(self) -> MemoryService:
        user = self.store.get_user(self.user_id)
        return MemoryService(
            self.user_id, self.store, self.index, self.embedder,
            timezone=user.timezone if user else None, near_duplicate=self.settings.near_duplicate_threshold,
        )

    def audit(self, tool: str, arguments: dict[str, object], status: str, error: str | None, duration_ms: float) -> None:
        self.store.record_action(self.user_id, tool, arguments, status, error, duration_ms)
