"""What every local embedding model needs before its first vector: its files checked against pinned digests,
and a load that can start in the background so the server answers at once."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


def verify_sha256(path: Path, expected: str, fix: str) -> None:
    """Refuse a model file whose digest is not the pinned one: a swapped wheel must not vouch for itself."""
    with open(path, "rb") as f:
        actual = hashlib.file_digest(f, "sha256").hexdigest()  # reads in chunks
    if actual != expected:
        raise RuntimeError(
            f"sha256 mismatch for {path}: expected {expected}, got {actual}. "
            f"The file is corrupt or has been replaced; {fix}."
        )


class BackgroundLoad(Generic[T]):
    """Runs `load` once: in a thread after `start()`, or in the first caller of `get()`. A failed load is
    raised to every waiter, then forgotten, so a later call tries again (e.g. after a reinstall)."""

    def __init__(self, load: Callable[[], T], name: str) -> None:
        self._load = load
        self._name = name
        self._lock = threading.Lock()
        self._loading: Future[T] | None = None
        self._value: T | None = None

    def start(self) -> None:
        with self._lock:
            if self._loading is not None:
                return
            future = self._loading = Future()
        # Not a daemon: a process that exits mid-load (a client that only lists tools, then closes stdin)
        # would tear down the engine's native threads under it and abort. Exit waits for the short load.
        threading.Thread(target=self._run, args=(future,), name=self._name, daemon=False).start()

    def ready(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        if self._value is not None:
            return self._value
        with self._lock:
            future = self._loading
            load_here = future is None
            if load_here:
                future = self._loading = Future()
        if load_here:
            self._run(future)
        try:
            return future.result()
        except BaseException:
            with self._lock:
                if self._loading is future:
                    self._loading = None
            raise

    def _run(self, future: Future[T]) -> None:
        try:
            value = self._load()
        except BaseException as exc:
            future.set_exception(exc)
        else:
            self._value = value
            future.set_result(value)
