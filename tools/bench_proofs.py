"""What checking one sign-in proof costs the server: SIWE (secp256k1 recovery), Telegram (HMAC) and Google
(RS256 id_token verification, and the whole code exchange against the in-process fake issuer).

    .venv/bin/python tools/bench_proofs.py              # 500 proofs of each kind
    .venv/bin/python tools/bench_proofs.py --n 2000

Every proof is distinct (its own nonce, key or payload), made before the clock starts. The Google "finish"
row includes the fake issuer's own work (an RSA signature and an in-process HTTP round trip per token), so
it bounds our share from above; against Google the network dominates it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from bench_common import load_average, markdown_table, summary_ms

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx2  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_account.messages import encode_defunct  # noqa: E402
from fakes_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidcIssuer  # noqa: E402

from jarvis_mcp.identity import google, siwe, telegram  # noqa: E402


def timed(calls: list) -> list[float]:  # noqa: ANN001
    out = []
    for call in calls:
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def bench_siwe(n: int) -> list[float]:
    now = datetime.now(UTC)
    wallet = Account.create()
    cases = []
    for _ in range(n):
        nonce = siwe.new_nonce()
        text = siwe.make_message("jarvis.example.com", "https://jarvis.example.com", wallet.address, nonce, 1, now)
        sig = wallet.sign_message(encode_defunct(text=text)).signature.hex()
        cases.append((text, sig))
    # Warm-up: eth-account is imported on first use (~2 s here), a one-time cost per process, not per proof.
    siwe.verify(cases[0][0], cases[0][1], domain="jarvis.example.com", uri="https://jarvis.example.com", chain_id=1,
                now=now, consume_nonce=lambda _: True)
    return timed([lambda t=t, s=s: siwe.verify(t, s, domain="jarvis.example.com", uri="https://jarvis.example.com",
                                               chain_id=1, now=now, consume_nonce=lambda _: True)
                  for t, s in cases])


def bench_telegram(n: int) -> list[float]:
    token, now = "123:bench", time.time()
    cases = []
    for i in range(n):
        fields = {"id": str(i + 1), "first_name": "Ana", "auth_date": str(int(now))}
        cases.append({**fields, "hash": telegram.sign(fields, token)})
    return timed([lambda f=f: telegram.verify(f, bot_token=token, now=now) for f in cases])


async def bench_google(n: int) -> tuple[list[float], list[float]]:
    fake = FakeOidcIssuer()
    oidc = google.GoogleOidc(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, issuer=fake.issuer,
                             transport=httpx2.ASGITransport(app=fake.app))
    finish, verify = [], []
    for _ in range(n):
        url, pending = await oidc.start("https://jarvis.example.com/cb")
        query = dict(parse_qsl(urlsplit(fake.approve(url)).query))
        grant = fake.codes[query["code"]]
        id_token = fake.id_token(grant)
        key = await oidc._key(fake.signing_kid)
        start = time.perf_counter()
        google.verify_id_token(id_token, key, issuers=oidc.issuers, client_id=CLIENT_ID, nonce=pending.nonce,
                               now=time.time())
        verify.append(time.perf_counter() - start)
        start = time.perf_counter()
        await oidc.finish(pending, query)
        finish.append(time.perf_counter() - start)
    return verify, finish


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="proofs of each kind")
    args = parser.parse_args()
    verify, finish = asyncio.run(bench_google(args.n))
    rows = []
    for name, samples in (("SIWE verify (parse, checks, ecrecover)", bench_siwe(args.n)),
                          ("Telegram verify (HMAC-SHA256)", bench_telegram(args.n)),
                          ("Google id_token verify (RS256, claims)", verify),
                          ("Google finish (code exchange + verify, in-process fake)", finish)):
        s = summary_ms(samples)
        rows.append((name, s["n"], s["p50"], s["p95"], s["max"]))
    print(f"load average: {load_average()}")
    print(markdown_table(("proof", "n", "p50 ms", "p95 ms", "max ms"), rows))


if __name__ == "__main__":
    main()
