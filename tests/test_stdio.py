"""`jarvis-mcp serve` over stdio as a client launches it: a real subprocess, and stdout carrying only JSON-RPC."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from servers import clean_env

SESSION_TIMEOUT_S = 60
LINE_TIMEOUT_S = 30
SANITY_START_S = 10.0


def _params(home: Path, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "jarvis_mcp", "serve"], env=clean_env(home, env)
    )


async def test_tools_then_remember_and_search(tmp_path: Path) -> None:
    with anyio.fail_after(SESSION_TIMEOUT_S):
        async with Client(_params(tmp_path / "home", JARVIS_USER="hana")) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert {"remember", "search_memory", "forget", "get_profile"} <= names
            stored = await c.call_tool("remember", {"text": "Hana's passport expires in March 2031", "kind": "fact"})
            assert not stored.is_error and stored.structured_content is not None
            memory_id = stored.structured_content["memory"]["id"]
            found = await c.call_tool("search_memory", {"query": "when does the passport expire"})
            assert found.structured_content is not None
            assert [h["id"] for h in found.structured_content["hits"]][:1] == [memory_id]
        # a second process over the same home is the same configured user
        async with Client(_params(tmp_path / "home", JARVIS_USER="hana"), mode="legacy") as c:
            found = await c.call_tool("search_memory", {"query": "passport"})
            assert found.structured_content is not None
            assert memory_id in [h["id"] for h in found.structured_content["hits"]]
        async with Client(_params(tmp_path / "home", JARVIS_USER="ivan")) as c:
            found = await c.call_tool("search_memory", {"query": "passport"})
            assert found.structured_content is not None and found.structured_content["hits"] == []


async def test_read_only_over_stdio(tmp_path: Path) -> None:
    params = _params(tmp_path / "home")
    params.args.append("--read-only")
    with anyio.fail_after(SESSION_TIMEOUT_S):
        async with Client(params) as c:
            tools = (await c.list_tools()).tools
    assert tools and all(t.annotations and t.annotations.read_only_hint for t in tools)
    assert "remember" not in {t.name for t in tools}


def _message(obj: dict[str, object]) -> bytes:
    return (json.dumps(obj) + "\n").encode()


@dataclass
class RawSession:
    lines: list[bytes]
    returncode: int
    stderr: str
    first_list_s: float


def _raw_session(tmp_path: Path, *, linger_s: float = 0.0) -> RawSession:
    """initialize, initialized, tools/list and ping as newline-delimited JSON; EOF `linger_s` after the list."""
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "jarvis_mcp", "serve"], env=clean_env(tmp_path / "home", {"JARVIS_LOG_LEVEL": "DEBUG"}),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
        )
    lines: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[bytes] = []
    try:
        assert proc.stdin is not None
        proc.stdin.write(
            _message({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
            + _message({"jsonrpc": "2.0", "method": "notifications/initialized"})
            + _message({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        )
        proc.stdin.flush()
        answered_at = None
        while answered_at is None:
            raw = lines.get(timeout=LINE_TIMEOUT_S)
            assert raw is not None, f"stdout closed early; stderr:\n{stderr_path.read_text()}"
            seen.append(raw)
            if json.loads(raw).get("id") == 2:
                answered_at = time.perf_counter()
        proc.stdin.write(_message({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
        proc.stdin.flush()
        time.sleep(linger_s)
        proc.stdin.close()  # EOF on stdin is how a client ends a stdio server
        returncode = proc.wait(timeout=LINE_TIMEOUT_S)
        while (raw := lines.get(timeout=LINE_TIMEOUT_S)) is not None:
            seen.append(raw)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=LINE_TIMEOUT_S)
    return RawSession(seen, returncode, stderr_path.read_text(), answered_at - started)


def test_stdout_is_only_json_rpc(tmp_path: Path) -> None:
    """Any stray print or log line on stdout would corrupt the protocol for a real client."""
    session = _raw_session(tmp_path)
    assert session.returncode == 0, session.stderr
    messages = [json.loads(raw) for raw in session.lines]  # every line, not only the ones we waited for
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    by_id = {m["id"]: m for m in messages if "id" in m}
    assert by_id[1]["result"]["serverInfo"]["name"] == "jarvis-mcp"
    assert "remember" in {t["name"] for t in by_id[2]["result"]["tools"]}
    assert by_id[3]["result"] == {}
    # the logs went where they belong, as JSON lines
    logs = [json.loads(line) for line in session.stderr.splitlines() if line.startswith("{")]
    assert logs, "expected JSON logs on stderr at DEBUG"
    print(f"\nstdio: process start -> first tools/list answer in {session.first_list_s:.2f} s")
    assert session.first_list_s < SANITY_START_S


@pytest.mark.parametrize("linger_s", [0.1, 0.2])
def test_a_client_that_leaves_at_once_gets_a_clean_exit(tmp_path: Path, linger_s: float) -> None:
    """Closing while the model still loads in the background used to abort the process (SIGABRT)."""
    session = _raw_session(tmp_path, linger_s=linger_s)
    assert session.returncode == 0, session.stderr
    assert "terminate called" not in session.stderr
