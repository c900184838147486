"""JARVIS_HOME holds the memories, contacts, audit, documents and outbox: owner-only, folders 0700 and
files 0600, however the server was started; a home made by an older version (0755 / 0644) is tightened
at start with one log line. Before, the home was created 0755 and jarvis.db 0644."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from servers import http_server

from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings

CALL_TIMEOUT_S = 60


def modes(home: Path) -> dict[str, int]:
    """Every folder and file under home (itself as "."), by relative path: its permission bits."""
    found = {".": stat.S_IMODE(home.lstat().st_mode)}
    for path in home.rglob("*"):
        if not path.is_symlink():
            found[path.relative_to(home).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_owner_only(home: Path) -> dict[str, int]:
    found = modes(home)
    loose = {p: oct(m) for p, m in found.items() if m != (0o700 if (home / p).is_dir() else 0o600)}
    assert not loose, loose
    return found


@contextmanager
def usual_umask() -> Iterator[None]:
    """The umask a desktop session or service manager usually gives (022): what made the home 0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def write_everything(c: Client) -> None:
    """A memory (database, -wal, -shm), a document, and an email kept in the local outbox."""
    ok(await c.call_tool("remember", {"text": "The alarm code is 4417"}))
    ok(await c.call_tool("add_document", {"title": "Notes", "text": "Passport renewal in May."}))
    ok(await c.call_tool("save_contact", {"name": "Ana López", "emails": ["ana@example.com"]}))
    sent = ok(await c.call_tool("send_email", {"to": ["Ana López"], "subject": "Hola", "body": "Hasta el martes."}))
    assert sent["status"] == "not_delivered", sent


def test_a_fresh_home_of_the_served_command_is_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "home"

    async def calls(url: str) -> None:
        with anyio.fail_after(CALL_TIMEOUT_S):
            async with (
                httpx.AsyncClient(timeout=CALL_TIMEOUT_S) as hc,
                Client(streamable_http_client(url, http_client=hc)) as c,
            ):
                await write_everything(c)

    with usual_umask(), http_server(home=home) as server:
        anyio.run(calls, server.mcp_url)
        found = assert_owner_only(home)  # while serving: the -wal and -shm files exist
    assert {"jarvis.db", "jarvis.db-wal", "jarvis.db-shm", "documents", "outbox"} <= set(found), found
    assert any(p.endswith(".eml") for p in found) and len([p for p in found if p.startswith("documents/")]) >= 2
    assert_owner_only(home)


async def test_an_in_process_server_keeps_the_home_owner_only_too(client_for, home: Path) -> None:
    # No CLI here, so no umask 077: the home, database and folders are made owner-only where created.
    with usual_umask():
        async with client_for("alice") as c:
            await write_everything(c)
            found = assert_owner_only(home)
    assert {"jarvis.db-wal", "jarvis.db-shm"} <= set(found) and any(p.endswith(".eml") for p in found), found


def test_an_existing_loose_home_is_tightened_at_start(tmp_path: Path, embedder, caplog) -> None:
    home = tmp_path / "home"
    open_runtime(Settings(home=home), embedder=embedder).close()
    (home / "outbox" / "user").mkdir(parents=True)
    (home / "outbox" / "user" / "old.eml").write_text("Subject: hi\n\nhello\n")
    outside = tmp_path / "shared.txt"
    outside.write_text("not ours to change")
    (home / "link").symlink_to(outside)
    for path in [home, *home.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    outside.chmod(0o644)
    loose = len(modes(home))

    with caplog.at_level(logging.INFO, logger="jarvis_mcp"):
        open_runtime(Settings(home=home), embedder=embedder).close()
    assert_owner_only(home)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # a symlink is neither followed nor changed
    lines = [r for r in caplog.records if r.name == "jarvis_mcp.home"]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert f"{home}: {loose} files and folders were readable by other accounts" in lines[0].getMessage()

    caplog.clear()
    open_runtime(Settings(home=home), embedder=embedder).close()
    assert [r for r in caplog.records if r.name == "jarvis_mcp.home"] == []  # nothing left to tighten, nothing said


def test_the_served_command_says_it_tightened_on_stderr(tmp_path: Path, embedder) -> None:
    home = tmp_path / "home"
    open_runtime(Settings(home=home), embedder=embedder).close()
    for path in [home, *home.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    # The store was opened with the suite's MiniLM: the server must use the same model.
    with http_server(home=home, env={"JARVIS_EMBEDDER": "minilm"}) as server:
        assert_owner_only(home)
        stderr = server.stderr()  # stdout is the protocol's (stdio): the line goes to stderr, as every log
    assert "were readable by other accounts; made owner-only (0700/0600)" in stderr, stderr
