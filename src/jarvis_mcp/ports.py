"""The ports every toolset shares: the embedder, the cache, and the root of provider failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length float32 vectors. `model_id` and `dim` are recorded by the store."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dim), float32, each row L2-normalised."""
        ...


class ProviderFailure(Exception):
    """A provider failed after its bounded retries, or refused the credentials (auth=True).
    The message is safe to show; with auth, the user must connect the provider again."""

    def __init__(self, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.auth = auth


class Cache(Protocol):
    """Bytes with a time to live, and counters; every key lives under one user's namespace.

    A cache may forget anything at any time (memory bound, restart): callers treat a miss as normal.
    """

    def get(self, user_id: str, key: str) -> bytes | None: ...
    def set(self, user_id: str, key: str, value: bytes, ttl: float) -> None: ...
    def incr(self, user_id: str, counter: str, amount: int = 1) -> int:
        """Add to a counter and return its new value (amount 0 reads it)."""
        ...
