"""The training export on Postgres: the same per-user turns, read through conversation_turns under RLS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pgtest import PgDatabase, fresh_database, system_cluster

from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.export.cli import export_conversations
from jarvis_mcp.memory.service import Turn


@pytest.fixture(scope="module")
def pgdb() -> Iterator[PgDatabase]:
    with fresh_database(system_cluster()) as db:
        yield db


def test_export_on_postgres_is_per_user(tmp_path: Path, pgdb: PgDatabase, embedder: Any,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    def settings(user: str) -> Settings:
        return Settings(home=tmp_path, user=user, store="postgres", database_url=pgdb.app_url)  # type: ignore[arg-type]

    runtime = open_runtime(settings("alice"), embedder=embedder)
    try:
        alice = runtime.local_user_id()
        bob = runtime.store.user_for_identity("local", "bob", "local", None)
        runtime.scope_for(alice).memory.log_conversation(
            [Turn(role="user", content="¿Qué tal la cita con Laura?"), Turn(role="assistant", content="Muy bien.")])
        runtime.scope_for(bob).memory.log_conversation(
            [Turn(role="user", content="Bob's secret plan"), Turn(role="assistant", content="Noted.")])
    finally:
        runtime.close()
    kw: dict[str, Any] = {"since": None, "sentiment": None, "out": None, "upload": False, "model": "m",
                          "embedder": embedder}
    assert export_conversations(settings("alice"), user=None, **kw) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [m["messages"][1:] for m in lines] == [[{"role": "user", "content": "¿Qué tal la cita con Laura?"},
                                                   {"role": "assistant", "content": "Muy bien."}]]
    assert export_conversations(settings("alice"), user=bob, **kw) == 0
    assert "Laura" not in capsys.readouterr().out
