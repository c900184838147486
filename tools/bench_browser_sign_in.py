"""What a person and a remote client wait for, end to end: the real server process, Debian's Chromium and the
MCP SDK's OAuth client (the harness of tests/e2e). Wall-clock times per step, median and p95:

- first:     an app given only the URL: discovery, DCR, the browser's email-link sign-in, consent, token, and
             one tool call (search_memory). Limited to 8 runs: the server allows 10 links a minute per client
             address.
- returning: a new app for a person whose browser is already signed in: discovery, DCR, consent only.
- reconnect: the same app again with its stored token: no browser at all.
- refresh:   the access token expired: one refresh-token rotation before the call.

Each person has `--memories` memories stored first (default 0 and 200), to show the sign-in does not
depend on how much a person keeps.

    .venv/bin/python tools/bench_browser_sign_in.py [--rounds 8] [--memories 0 200]

Needs /usr/bin/chromium (`apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "e2e"), str(ROOT / "tests")]

from e2e_browser import Browser, chromium_missing  # noqa: E402
from e2e_cimd import metadata_host  # noqa: E402
from e2e_oauth import RemoteClient, remember, search_texts  # noqa: E402
from e2e_people import Person  # noqa: E402
from servers import http_server  # noqa: E402

# The unlimited tier: storing the memories must not hit the free tier's per-minute write limit.
ENV = {"JARVIS_SIGN_IN": "email,wallet", "JARVIS_PUBLIC_URL": "http://127.0.0.1:{port}/mcp",
       "JARVIS_DEFAULT_TIER": "unlimited"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, ms: list[float]) -> str:
    return f"  {name:<10} median {statistics.median(ms):8.1f} ms   p95 {pct(ms, 0.95):8.1f} ms   (n={len(ms)})"


async def _timed_call(app: RemoteClient) -> float:
    t = time.perf_counter()
    async with app.connect() as client:
        await search_texts(client, "where are the keys")
    return (time.perf_counter() - t) * 1000


async def run(browser: Browser, mcp_url: str, server: object, rounds: int, memories: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"first": [], "returning": [], "reconnect": [], "refresh": []}
    for i in range(rounds):
        someone = Person(browser, server, f"bench-{uuid.uuid4().hex[:8]}@example.com")  # type: ignore[arg-type]
        apps = [RemoteClient(mcp_url, someone.authorize) for _ in range(2)]
        try:
            if memories:  # stored through a first app, then that app is set aside
                async with apps[0].connect() as client:
                    for n in range(memories):
                        await remember(client, f"note {n} of round {i}: the keys are in drawer {n % 7}")
                apps[0].close()
                apps[0] = RemoteClient(mcp_url, someone.authorize)
                someone.browser.run(someone.context.clear_cookies)  # signed out again
            times["first"].append(await _timed_call(apps[0]))
            times["returning"].append(await _timed_call(apps[1]))
            times["reconnect"].append(await _timed_call(apps[1]))
            apps[1].expire_access_token()
            times["refresh"].append(await _timed_call(apps[1]))
        finally:
            for app in apps:
                app.close()
            someone.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--memories", type=int, nargs="+", default=[0, 200])
    args = parser.parse_args()
    if reason := chromium_missing():
        sys.exit(reason)
    browser = Browser()
    try:
        for memories in args.memories:
            with tempfile.TemporaryDirectory() as tmp, metadata_host(Path(tmp)) as host, \
                    http_server({**ENV, "SSL_CERT_FILE": str(host.ca_file)}) as server:
                times = asyncio.run(run(browser, server.mcp_url, server, args.rounds, memories))
            print(f"{memories} memories per person:")
            for name, ms in times.items():
                print(line(name, ms))
    finally:
        browser.close()


if __name__ == "__main__":
    main()
