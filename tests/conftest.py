"""Shared fixtures. The embedder is the real local model (loads in ~0.25 s), shared by the whole session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.runtime import Runtime
from jarvis_mcp.server import build_server

# redis_client / redis_prefix: the real Redis, a key prefix per test (tests/redis_support.py).
pytest_plugins = ["redis_support"]


@pytest.fixture(scope="session")
def embedder() -> OnnxMiniLMEmbedder:
    model = OnnxMiniLMEmbedder()
    model.embed(["warm up"])
    return model


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings_for(home: Path) -> Callable[..., Settings]:
    """Settings for a user of the shared home: two users of one store is how isolation is tested."""

    def make(user: str = "local", **overrides: Any) -> Settings:
        return Settings(home=home, user=user, **overrides)

    return make


@pytest.fixture
def client_for(settings_for: Callable[..., Settings], embedder: OnnxMiniLMEmbedder):
    """`async with client_for("alice") as c:` — an in-process MCP client acting as that stdio user."""

    @asynccontextmanager
    async def open_client(user: str = "local", *, read_only: bool = False, **overrides: Any) -> AsyncIterator[Client]:
        server = build_server(settings_for(user, **overrides), read_only=read_only, embedder=embedder)
        async with Client(server) as client:
            yield client

    return open_client


@pytest.fixture
def runtime(settings_for: Callable[..., Settings], embedder: OnnxMiniLMEmbedder):
    """A runtime for calling services directly (no MCP)."""
    opened: list[Runtime] = []

    def make(user: str = "local") -> Runtime:
        rt = open_runtime(settings_for(user), embedder=embedder)
        opened.append(rt)
        return rt

    yield make
    for rt in opened:
        rt.close()
