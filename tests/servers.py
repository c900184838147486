"""Run the real `jarvis-mcp` command in a subprocess: a clean JARVIS_* environment, bounded waits, always ended."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
RUN_TIMEOUT_S = 60.0


def clean_env(home: Path | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without any JARVIS_* (the developer's own settings must not leak in), then ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JARVIS_")}
    if home is not None:
        env["JARVIS_HOME"] = str(home)
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    args: Sequence[str], *, home: Path | None, env: Mapping[str, str] | None = None,
    stdin: str | None = None, timeout: float = RUN_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """`python -m jarvis_mcp ARGS` to completion; the timeout kills it rather than hanging the suite."""
    return subprocess.run(
        [sys.executable, "-m", "jarvis_mcp", *args], env=clean_env(home, env), input=stdin,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path
    stderr_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    @property
    def db_path(self) -> Path:
        return self.home / "jarvis.db"

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def http_server(
    env: Mapping[str, str] | None = None, *, args: Sequence[str] = (), home: Path | None = None,
    port: int | None = None, host: str | None = "127.0.0.1",
) -> Iterator[Server]:
    """`jarvis-mcp serve --transport http` on 127.0.0.1, yielded once /healthz answers; always terminated.

    `env` values may contain "{port}", filled in with the chosen port (for audiences and public URLs).
    host=None leaves --host out, to test the command's default.
    """
    with tempfile.TemporaryDirectory(prefix="jarvis-http-") as tmp:
        home = home or Path(tmp) / "home"
        port = port or free_port()
        settings = {k: v.replace("{port}", str(port)) for k, v in (env or {}).items()}
        stderr_path = Path(tmp) / "stderr.log"
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "jarvis_mcp", "serve", "--transport", "http",
                 *(["--host", host] if host else []), "--port", str(port), *args],
                env=clean_env(home, settings), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            )
        server = Server(proc, port, home, stderr_path)
        try:
            _wait_healthy(server)
            yield server
        finally:
            _stop(proc)


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.stderr()}")
        try:
            if httpx.get(f"{server.base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"/healthz did not answer within {START_TIMEOUT_S} s:\n{server.stderr()}")
