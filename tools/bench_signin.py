"""Sign-in and token costs on the embedded default (SQLite), in process through the real HTTP app.

Measures, with N access tokens already in the store (default 1,000 and 10,000):
- verify: a bearer token checked on a request (hash, one indexed lookup): median and p95;
- refresh: one refresh-token rotation at /token (consume + two inserts + audit);
- sign-in: a whole email-link sign-in and code exchange (register, /authorize, email link, consent, /token);
  8 of them, under the per-client-address throttle.

    .venv/bin/python tools/bench_signin.py [--tokens 1000 10000] [--rounds 200]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from oauth_support import app_client, settings, tokens_for  # noqa: E402

from jarvis_mcp.identity.keys import digest  # noqa: E402
from jarvis_mcp.identity.ports import TokenRecord  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, ms: list[float]) -> str:
    return f"{name:<10} median {statistics.median(ms):7.2f} ms   p95 {pct(ms, 0.95):7.2f} ms   (n={len(ms)})"


def run(n_tokens: int, rounds: int, embedder: object) -> None:
    with tempfile.TemporaryDirectory() as tmp, app_client(settings(Path(tmp) / "home"), embedder) as client:
        first = tokens_for(client, "bench@example.com")
        mcp = client.app  # the store, through the running runtime
        store = _store(client)
        user = store.user_for_identity("email", "bench@example.com", "email", None)
        now = time.time()
        for start in range(0, n_tokens, 1000):
            store.add_tokens([TokenRecord(digest(uuid.uuid4().hex), "access", uuid.uuid4().hex, user, "c", "", "r",
                                          now + 600) for _ in range(min(1000, n_tokens - start))], now)
        provider = _provider(client)
        verify = []
        for _ in range(rounds):
            t = time.perf_counter()
            assert asyncio.run(provider.load_access_token(first["access_token"])) is not None
            verify.append((time.perf_counter() - t) * 1000)
        refresh, token = [], first["refresh_token"]
        for _ in range(rounds):
            t = time.perf_counter()
            answer = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token,
                                                 "client_id": first["client_id"]})
            refresh.append((time.perf_counter() - t) * 1000)
            token = answer.json()["refresh_token"]
        signin = []
        for i in range(8):  # the per-client-address throttle allows 10 sign-in links a minute
            client.cookies.clear()
            t = time.perf_counter()
            tokens_for(client, f"person{i}@example.com")
            signin.append((time.perf_counter() - t) * 1000)
        del mcp
        print(f"-- {n_tokens} access tokens in the store")
        print(line("verify", verify))
        print(line("refresh", refresh))
        print(line("sign-in", signin))


def _store(client: object) -> object:
    return _identity(client).provider._store()


def _provider(client: object) -> object:
    return _identity(client).provider


def _identity(client: object) -> object:
    for route in client.app.routes:  # type: ignore[attr-defined]
        endpoint = getattr(route, "endpoint", None)
        owner = getattr(endpoint, "__self__", None)
        if owner is not None and hasattr(owner, "provider"):
            return owner
    raise RuntimeError("no sign-in routes: is JARVIS_SIGN_IN set?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    from jarvis_mcp.bootstrap import make_embedder
    from jarvis_mcp.config import Settings

    embedder = make_embedder(Settings(embedder="minilm"))
    for n in args.tokens:
        run(n, args.rounds, embedder)


if __name__ == "__main__":
    main()
