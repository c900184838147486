"""Load test: N simulated users, each with its own token and data, calling a mix of tools over HTTP.

    python tools/loadtest.py --users 50 --duration 20 --processes 2 --backend postgres --redis

Starts the server processes itself (on 127.0.0.1 only), on a fresh store: SQLite in a temporary folder,
or a fresh PostgreSQL database + app role on 127.0.0.1:5432 (dropped afterwards); with --redis the cache
and limits live in the local Redis under a unique key prefix (deleted afterwards). Every user is served
by process (user % processes), so with 2 processes consecutive users land on different processes.

Each user seeds memories carrying a marker word only it knows; every search result is checked for
other users' markers (a cross-user leak) and marker searches must find the user's own memories.
In the same run a bare MCP SDK server with one echo tool is measured with the same client harness,
so the throughput ratio compares like with like on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SECRET = secrets.token_urlsafe(48)
RUN = uuid.uuid4().hex[:8]
WORDS = ("budget", "dentist", "flight", "invoice", "garden", "meeting", "birthday", "contract", "recipe",
         "marathon", "piano", "insurance", "vacation", "project", "doctor", "school", "car", "rent")


def marker(user: int) -> str:
    return f"zq{RUN}u{user}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the echo baseline ---------------------------------------------------------------------------

def serve_echo(port: int, stateless: bool) -> None:
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("echo")

    @mcp.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        return text

    uvicorn.run(mcp.streamable_http_app(stateless_http=stateless, host="127.0.0.1"), host="127.0.0.1", port=port,
                log_level="warning", access_log=False)


# -- processes and backends ----------------------------------------------------------------------

def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see its log")
        # A TCP connect, not a GET: a stateless server answers GET /mcp with an SSE stream that never ends.
        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@dataclass
class Backend:
    env: dict[str, str] = field(default_factory=dict)
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    description: str = ""


def make_backend(args: argparse.Namespace, home: Path) -> Backend:
    b = Backend(env={"JARVIS_HOME": str(home), "JARVIS_JWT_SECRET": SECRET, "JARVIS_LOG_LEVEL": "WARNING",
                     "JARVIS_DEFAULT_TIER": args.tier})
    b.description = "sqlite (one file, WAL)"
    if args.backend == "postgres":
        import psycopg

        admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        db, role = f"jarvis_load_{RUN}", f"jarvis_load_app_{RUN}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')

        def drop() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')

        b.cleanup.append(drop)
        owner_url = f"postgresql://postgres@127.0.0.1:5432/{db}"
        subprocess.run([PY, "-m", "jarvis_mcp", "migrate", "--database-url", owner_url, "--app-role", role],
                       check=True, env={**clean_env(), **b.env}, capture_output=True, timeout=120)
        b.env.update({"JARVIS_STORE": "postgres", "JARVIS_DATABASE_URL": f"postgresql://{role}@127.0.0.1:5432/{db}"})
        b.description = "postgres (127.0.0.1:5432, RLS, app role)"
    if args.redis:
        import redis

        prefix = f"jarvisload{RUN}"
        b.env.update({"JARVIS_REDIS_URL": "redis://127.0.0.1:6379/0", "JARVIS_REDIS_PREFIX": prefix})

        def flush() -> None:
            client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
            keys = list(client.scan_iter(f"{prefix}:*"))
            if keys:
                client.delete(*keys)

        b.cleanup.append(flush)
        b.description += " + redis"
    return b


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("JARVIS_")}


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env={**clean_env(), **env}, stdout=subprocess.DEVNULL,
                            stderr=log.open("wb"), cwd=ROOT)


def token(subject: str) -> str:
    from jarvis_mcp.config import Settings
    from jarvis_mcp.tokens import issue_token

    return issue_token(Settings(jwt_secret=SECRET), subject=subject, ttl_seconds=3600)


# -- the client harness --------------------------------------------------------------------------

@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    leaks: int = 0
    misses: int = 0
    first_errors: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(what)


async def session(url: str, bearer: str | None, stack: AsyncExitStack) -> Client:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    http = await stack.enter_async_context(httpx.AsyncClient(headers=headers, timeout=60))
    return await stack.enter_async_context(Client(streamable_http_client(url, http_client=http)))


async def drive(clients: list[Client], step: Callable[[int, Client, Tally], Awaitable[None]], seconds: float) -> tuple[Tally, float]:
    tally = Tally()
    stop = time.monotonic() + seconds

    async def user_loop(i: int, client: Client) -> None:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                await step(i, client, tally)
            except Exception as exc:  # noqa: BLE001 - counted, reported, never hidden
                tally.error(f"{type(exc).__name__}: {exc}"[:200])
            tally.latencies.append(time.perf_counter() - t0)

    began = time.monotonic()
    await asyncio.gather(*(user_loop(i, c) for i, c in enumerate(clients)))
    return tally, time.monotonic() - began


async def jarvis_step(i: int, client: Client, tally: Tally) -> None:
    roll = random.random()
    if roll < 0.5:
        words = random.sample(WORDS, 2)
        query = f"{marker(i)} {words[0]}" if random.random() < 0.5 else " ".join(words)
        r = await client.call_tool("search_memory", {"query": query, "top_k": 5})
        if r.is_error:
            tally.error(r.content[0].text[:200])
            return
        texts = [h["text"] for h in r.structured_content["hits"]]
        if any(f"zq{RUN}u" in t and marker(i) not in t for t in texts):
            tally.leaks += 1
        if query.startswith(marker(i)) and not any(marker(i) in t for t in texts):
            tally.misses += 1
    elif roll < 0.7:
        r = await client.call_tool("remember", {"text": f"{marker(i)} note {uuid.uuid4().hex[:6]} about "
                                                f"{' '.join(random.sample(WORDS, 3))}", "kind": "note"})
        if r.is_error:
            tally.error(r.content[0].text[:200])
    elif roll < 0.85:
        r = await client.call_tool("get_profile", {})
        if r.is_error:
            tally.error(r.content[0].text[:200])
    else:
        r = await client.call_tool("recent_history", {"limit": 5})
        if r.is_error:
            tally.error(r.content[0].text[:200])
        elif any(f"zq{RUN}u" in m["text"] and marker(i) not in m["text"] for m in r.structured_content["recent_memories"]):
            tally.leaks += 1


async def echo_step(i: int, client: Client, tally: Tally) -> None:
    r = await client.call_tool("echo", {"text": f"hello {i}"})
    if r.is_error:
        tally.error(r.content[0].text[:200])


def summary(name: str, tally: Tally, elapsed: float) -> dict[str, object]:
    lat = sorted(tally.latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [lat[0] * 1000] * 99 if lat else [0.0] * 99
    return {"name": name, "calls": len(lat), "calls_per_s": round(len(lat) / elapsed, 1),
            "p50_ms": round(q[49] * 1000, 2), "p95_ms": round(q[94] * 1000, 2), "p99_ms": round(q[98] * 1000, 2),
            "errors": tally.errors, "cross_user_results": tally.leaks, "own_marker_misses": tally.misses,
            "first_errors": tally.first_errors}


async def measure(urls: list[str], users: int, seconds: float, *, jarvis: bool) -> dict[str, object]:
    async with AsyncExitStack() as stack:
        clients = []
        for i in range(users):
            bearer = token(f"load-{RUN}-{i}") if jarvis else None
            clients.append(await session(urls[i % len(urls)], bearer, stack))
        if jarvis:
            for i, c in enumerate(clients):  # seed: each user's own marked memories
                for n in range(5):
                    await c.call_tool("remember", {"text": f"{marker(i)} fact {n}: {' '.join(random.sample(WORDS, 4))}"})
            await drive(clients, jarvis_step, min(3.0, seconds / 4))  # warm caches and matrices
        tally, elapsed = await drive(clients, jarvis_step if jarvis else echo_step, seconds)
        return summary("jarvis-mcp mix" if jarvis else "bare SDK echo", tally, elapsed)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--duration", type=float, default=20.0, help="seconds of measured load per target")
    p.add_argument("--processes", type=int, default=1, choices=(1, 2, 3, 4))
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--redis", action="store_true", help="cache and limits in the local Redis")
    p.add_argument("--stateless", action="store_true", help="serve --stateless (no sessions in memory)")
    p.add_argument("--tier", default="unlimited", help="JARVIS_DEFAULT_TIER of the simulated users")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--out", type=Path, help="write the results as JSON")
    p.add_argument("--serve-echo", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_echo:
        serve_echo(args.serve_echo, args.stateless)
        return 0

    work = Path(tempfile.mkdtemp(prefix="jarvis-load-"))
    backend = make_backend(args, work / "home")
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, object] = {"users": args.users, "processes": args.processes, "backend": backend.description,
                                  "stateless": args.stateless, "duration_s": args.duration, "cpu_cores": os.cpu_count()}
    try:
        urls = []
        for n in range(args.processes):
            port = free_port()
            cmd = [PY, "-m", "jarvis_mcp", "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)]
            procs.append(start(cmd + (["--stateless"] if args.stateless else []), backend.env, work / f"server{n}.log"))
            wait_ready(f"http://127.0.0.1:{port}/healthz", procs[-1])
            urls.append(f"http://127.0.0.1:{port}/mcp")
        results["jarvis"] = asyncio.run(measure(urls, args.users, args.duration, jarvis=True))
        for proc in procs:
            proc.terminate()
        if not args.skip_baseline:
            echo_urls = []
            for n in range(args.processes):
                port = free_port()
                cmd = [PY, str(Path(__file__).resolve()), "--serve-echo", str(port)]
                procs.append(start(cmd + (["--stateless"] if args.stateless else []), {}, work / f"echo{n}.log"))
                wait_ready(f"http://127.0.0.1:{port}/mcp", procs[-1])
                echo_urls.append(f"http://127.0.0.1:{port}/mcp")
            results["baseline"] = asyncio.run(measure(echo_urls, args.users, args.duration, jarvis=False))
            ratio = results["jarvis"]["calls_per_s"] / max(results["baseline"]["calls_per_s"], 1e-9)  # type: ignore[index]
            results["throughput_ratio"] = round(ratio, 2)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for fn in backend.cleanup:
            fn()
        shutil.rmtree(work, ignore_errors=True)

    print(f"# python tools/loadtest.py {' '.join(sys.argv[1:])}")
    print(f"{args.users} users, {args.processes} server process(es), {backend.description}, "
          f"{'stateless' if args.stateless else 'stateful'} HTTP, {args.duration:.0f} s each, {os.cpu_count()} cores")
    print("| target | calls | calls/s | p50 ms | p95 ms | p99 ms | errors | cross-user results |")
    print("|---|---|---|---|---|---|---|---|")
    for key in ("jarvis", "baseline"):
        r = results.get(key)
        if isinstance(r, dict):
            print(f"| {r['name']} | {r['calls']} | {r['calls_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} "
                  f"| {r['errors']} | {r['cross_user_results']} |")
    if "throughput_ratio" in results:
        print(f"throughput ratio jarvis/echo: {results['throughput_ratio']}")
    jr = results["jarvis"]
    if isinstance(jr, dict):
        for e in jr["first_errors"]:
            print(f"error: {e}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    ok = isinstance(jr, dict) and jr["errors"] == 0 and jr["cross_user_results"] == 0 and jr["own_marker_misses"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
