"""What a person waits for on /app/approvals, by outbox size, and what URL-mode elicitation adds to confirm_action.

    .venv/bin/python tools/bench_approvals.py                       # outboxes of 100 and 1000 actions
    .venv/bin/python tools/bench_approvals.py --sizes 100 --reps 5  # quick

Per size N (N emails already in the outbox, 20 of them pending): the list page, one action's page, an
approval with the right voice key (Argon2id, then the email kept in the outbox mailer), a wrong key, a
rejection; and, through an in-process SDK client on 2025-11-25 that declares URL elicitation, the time from
the person's approval on the page to confirm_action's answer (bounded by the store poll, 0.25 s)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from bench_common import load_average, markdown_table, summary_ms
from mcp import Client, types
from starlette.testclient import TestClient

from jarvis_mcp.config import Settings
from jarvis_mcp.identity.proofs import ProvenIdentity
from jarvis_mcp.identity.service import SignInService
from jarvis_mcp.server import build_server
from jarvis_mcp.web import http_app

BASE = "http://127.0.0.1:8765"
PHRASE = "el árbol azul canta de noche"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html[:300]
    return found.group(1)


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - started, out


def run_size(home: Path, n: int, reps: int) -> list[list[object]]:
    settings = Settings(home=home, sign_in=["email"], public_url=f"{BASE}/mcp", always_confirm=["send_email"],
                        default_tier="unlimited")  # the limits are not what is measured
    mcp = build_server(settings)
    rows: list[list[object]] = []
    with TestClient(http_app(mcp, host="127.0.0.1", stateless=True), base_url=BASE, follow_redirects=False) as web:
        runtime = mcp.shared.runtime
        user = runtime.local_user_id()
        web.cookies.set("jarvis_session", SignInService(runtime.store).sign_in(
            ProvenIdentity("local", settings.user, "local"), None).session)
        scope = runtime.scope_for(user)
        scope.voice_key.set(PHRASE)

        def pending(i: int) -> str:
            return scope.actions.submit(scope.mail.request_send([f"p{i}@example.com"], f"Hola {i}", "Nos vemos.")).action_id

        done = [pending(i) for i in range(max(0, n - 20))]
        for action_id in done:  # most of the outbox is history, as it would be
            scope.actions.cancel(action_id)
        waiting = [pending(10_000 + i) for i in range(20)]

        samples: dict[str, list[float]] = {k: [] for k in ("list page", "action page", "approve (right key)",
                                                          "approve (wrong key)", "reject")}
        for _ in range(reps):
            samples["list page"].append(timed(web.get, "/app/approvals")[0])
            samples["action page"].append(timed(web.get, f"/app/approvals/{waiting[0]}")[0])
        token = csrf(web.get("/app/approvals").text)
        for i in range(reps):
            if i % 4 == 3:  # a right key forgives the wrong ones before the lock
                web.post(f"/app/approvals/{waiting[-1]}/approve", data={"csrf_token": token, "phrase": PHRASE})
                waiting[-1] = pending(20_000 + i)
            samples["approve (wrong key)"].append(timed(
                web.post, f"/app/approvals/{waiting[0]}/approve", data={"csrf_token": token, "phrase": "no es esta clave"})[0])
        for i in range(reps):
            action_id = pending(30_000 + i)
            samples["approve (right key)"].append(timed(
                web.post, f"/app/approvals/{action_id}/approve", data={"csrf_token": token, "phrase": PHRASE})[0])
            action_id = pending(40_000 + i)
            samples["reject"].append(timed(web.post, f"/app/approvals/{action_id}/reject", data={"csrf_token": token})[0])
        for name, values in samples.items():
            s = summary_ms(values)
            rows.append([n, name, f"{s['p50']:.1f}", f"{s['p95']:.1f}"])
        rows.append([n, "URL mode: approved -> confirm_action answers", *asyncio.run(url_mode(mcp, web, reps))])
    return rows


async def url_mode(mcp: Any, web: TestClient, reps: int) -> list[str]:
    decided: list[float] = []

    def approve(url: str) -> None:
        path = urlsplit(url).path
        web.post(f"{path}/approve", data={"csrf_token": csrf(web.get(path).text), "phrase": PHRASE})
        decided.append(time.perf_counter())

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams)
        await anyio.to_thread.run_sync(approve, params.url)
        return types.ElicitResult(action="accept")

    waits: list[float] = []
    async with Client(mcp, mode="legacy", elicitation_callback=callback) as client:
        for i in range(reps):
            sent = await client.call_tool("send_email", {"to": [f"u{i}@example.com"], "subject": f"U {i}", "body": "x"})
            assert sent.structured_content is not None, sent.content
            await client.call_tool("confirm_action", {"action_id": sent.structured_content["action_id"]})
            waits.append(time.perf_counter() - decided[-1])
    s = summary_ms(waits)
    return [f"{s['p50']:.1f}", f"{s['p95']:.1f}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    rows: list[list[object]] = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            rows += run_size(Path(tmp) / "home", n, args.reps)
    print(markdown_table(["outbox rows", "step", "p50 ms", "p95 ms"], rows))
    print(f"\nload average: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
