"""Debian's Chromium driven by Playwright, from one thread of its own.

Playwright's sync API is bound to the thread that started it, and the SDK's OAuth client calls our
redirect handler from inside its event loop; so the browser lives in a dedicated worker thread and every
page action is submitted there. That lets one browser serve the whole session, whatever event loop each
test runs in, while every person gets a fresh, isolated browser context (cookies, storage).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

CHROMIUM = os.environ.get("JARVIS_TEST_CHROMIUM", "/usr/bin/chromium")
# Headless, no first-run work and nothing that phones home: the tests must not depend on the network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# One navigation or one wait on a page; the whole sign-in is a handful of these.
PAGE_TIMEOUT_MS = 15_000

T = TypeVar("T")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None. Checked before anything is launched."""
    if not os.access(CHROMIUM, os.X_OK):
        return (f"{CHROMIUM} is missing: the browser tests drive Debian's chromium "
                "(`apt-get install chromium`; .ci/run installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: `.venv/bin/pip install -e '.[dev]'`"
    return None


class Browser:
    """One headless Chromium (a fresh temporary profile) owned by one worker thread."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._playwright: Any = None
        self.browser: Any = None
        self.run(self._start)

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on the browser's thread, from synchronous code."""
        return self._thread.submit(fn, *args).result()

    async def arun(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on the browser's thread, awaited from any event loop without blocking it."""
        return await asyncio.wrap_future(self._thread.submit(fn, *args))

    def new_context(self) -> Any:
        """A fresh browser context: a person with no cookies. Call through run()/arun()."""
        context = self.browser.new_context()
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        return context

    def close(self) -> None:
        def stop() -> None:
            if self.browser is not None:
                self.browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self.run(stop)
        finally:
            self._thread.shutdown(wait=True)
