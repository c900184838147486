"""search_clients latency and contact import rate.

    .venv/bin/python tools/bench_contacts.py                          # 10,000 for the user, 50,000 in the store
    .venv/bin/python tools/bench_contacts.py --contacts 1000 --other-users 1 --queries 50   # while developing

One measured user holds --contacts synthetic contacts (names with and without accents, Spanish and US
phones, emails, companies, tags, notes); --other-users users hold as many each, all in one store. Every
row goes through ContactService.import_contacts (validation, E.164 normalisation, duplicate matching,
batched writes) with note embeddings off: that is the import rate reported. Then each query kind is timed
through the service alone and through an in-process MCP client (tool call: validation, worker thread,
audit row, JSON). Queries are derived from stored contacts, typos included. The first search after the
import builds the user's in-memory index; that cold build is reported on its own line.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_common import load_average, markdown_table, summary_ms
from mcp import Client

from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.contacts.rules import ContactInput
from jarvis_mcp.contacts.service import ContactService
from jarvis_mcp.server import build_server


def _split(words: str) -> list[str]:
    return words.split()


FIRST = _split("María José Lucía Álvaro Íñigo Zoë Chloé François Björn Jürgen Ana Juan Pedro Carmen Laura Pablo Sofía "
         "Diego Elena Javier Marta Carlos Isabel Miguel Paula David Sara Daniel Andrea Alejandro Raquel Sergio "
         "John Mary James Patricia Robert Jennifer Michael Linda William Elizabeth Richard Susan Joseph Jessica "
         "Thomas Sarah Charles Karen Christopher Nancy Matthew Lisa Anthony Betty Mark Sandra Donald Ashley Steven "
         "Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
         "Timothy Stephanie Ronald Rebecca Jason Sharon Edward Cynthia Jeffrey Kathleen Ryan Amy Jacob Angela")
LAST = _split("García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Martín Jiménez Ruiz Hernández Díaz "
        "Moreno Muñoz Álvarez Romero Alonso Gutiérrez Navarro Torres Domínguez Vázquez Ramos Gil Ramírez Serrano "
        "Blanco Molina Morales Suárez Ortega Delgado Castro Ortiz Rubio Marín Sanz Núñez Iglesias Medina Garrido "
        "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Jackson White Harris "
        "Thompson Young Allen King Wright Scott Hill Green Adams Baker Nelson Carter Mitchell Roberts Turner "
        "Phillips Campbell Parker Evans Edwards Collins Stewart Morris Rogers Reed Cook Morgan Bell Murphy Bailey "
        "Müller Schmidt Dubois Lefèvre Rossi Bianchi Kowalski Nowak Jensen Nielsen Johansson Andersson")
COMPANIES = _split("Acme Globex Initech Umbrella Stark Wayne Hooli Soylent Cyberdyne Tyrell Wonka Oscorp Aperture "
             "Telefónica Iberdrola Santander Mapfre Inditex Repsol Endesa Ferrovial Acciona Indra Mercadona "
             "Vandelay Kramerica Dunder Pied Massive Gringotts Monarch Gekko Nakatomi Virtucon Duff Krusty")
TAGS = _split("client supplier friend family vip investor lead partner doctor lawyer press board")
NOTE_WORDS = _split("met at the fintech meetup conference in madrid barcelona london prefers email calls whatsapp "
              "mornings interested in payments insurance real estate sailing golf tennis wine startup series "
              "funding introduced by mutual friend dentist plumber accountant architect kids school")
DOMAINS = _split("gmail.com outlook.com yahoo.es hotmail.com icloud.com")


def person(rng: random.Random, i: int) -> ContactInput:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    name = f"{first} {last}" if rng.random() < 0.8 else f"{first} {last} {rng.choice(LAST)}"
    company = rng.choice(COMPANIES) if rng.random() < 0.6 else None
    plain = f"{first}.{last}".lower().encode("ascii", "ignore").decode() or "x"
    emails = [f"{plain}{i}@{(company or '').lower() + '.com' if company and rng.random() < 0.5 else rng.choice(DOMAINS)}"]
    if rng.random() < 0.7:
        phones = [f"6{rng.randrange(10**7, 10**8)}"] if rng.random() < 0.8 else \
            [f"+1 {rng.choice(('415', '212', '646', '312'))} {rng.randrange(200, 999)} {rng.randrange(1000, 9999)}"]
    else:
        phones = []
    return ContactInput(
        name=name, emails=emails if rng.random() < 0.85 else [], phones=phones, company=company,
        role=rng.choice(("CEO", "CFO", "engineer", "designer", "sales", None, None)),
        tags=rng.sample(TAGS, rng.randrange(0, 3)),
        notes=" ".join(rng.choice(NOTE_WORDS) for _ in range(rng.randrange(4, 14))) if rng.random() < 0.4 else None,
        source="import",
    )


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]  # dropped letter
    if kind == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # swapped letters
    return word[:i] + rng.choice("aeioustrn") + word[i + 1:]  # wrong letter


def strip_accents(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def queries(svc: ContactService, n: int, rng: random.Random) -> dict[str, list[str]]:
    sample = svc.store.list_contacts(svc.user_id, 0, 100_000)
    rng.shuffle(sample)
    with_phone = [c for c in sample if c.phones]
    with_email = [c for c in sample if c.emails]
    with_company = [c for c in sample if c.company]
    out: dict[str, list[str]] = {"fuzzy name": [], "name, no accents": [], "first name": [], "partial phone": [],
                                 "email": [], "email domain": [], "company": [], "tag": []}
    for i in range(n):
        c = sample[i % len(sample)]
        parts = c.name.split()
        out["fuzzy name"].append(" ".join([typo(strip_accents(parts[0]).lower(), rng), *parts[1:2]]))
        out["name, no accents"].append(strip_accents(c.name).lower())
        out["first name"].append(parts[0])
        p = with_phone[i % len(with_phone)].phones[0]
        national = p[3:] if p.startswith("+34") else p[2:]
        out["partial phone"].append(f"{national[:3]} {national[3:5]}")
        out["email"].append(with_email[i % len(with_email)].emails[0])
        out["email domain"].append(with_email[i % len(with_email)].emails[0].split("@")[1])
        out["company"].append(with_company[i % len(with_company)].company or "")
        out["tag"].append(rng.choice(TAGS))
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def through_mcp(settings: Settings, embedder: OnnxMiniLMEmbedder, qs: dict[str, list[str]],
                      *, client_validation: bool = True) -> dict[str, list[float]]:
    """Round trips of search_clients. The SDK client re-validates every structuredContent against the output
    schema with jsonschema (~0.2 ms per hit); client_validation=False times the same calls without that
    client-side step, which is what the server and the transport cost."""
    server = build_server(settings, embedder=embedder)
    out: dict[str, list[float]] = {}
    async with Client(server) as client:
        if not client_validation:
            async def skip(name: str, result: object) -> None:
                return None

            client.session.validate_tool_result = skip  # type: ignore[method-assign]
        for q in list(qs.values())[0][:5]:  # warm-up: worker threads, schema caches
            await client.call_tool("search_clients", {"query": q})
        for kind, items in qs.items():
            samples = []
            for q in items:
                start = time.perf_counter()
                result = await client.call_tool("search_clients", {"query": q, "limit": 10})
                samples.append(time.perf_counter() - start)
                assert not result.is_error, result.content
            out[kind] = samples
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contacts", type=int, default=10_000, help="contacts of the measured user")
    ap.add_argument("--other-users", type=int, default=4, help="other users, holding as many contacts each")
    ap.add_argument("--queries", type=int, default=300, help="queries per kind")
    ap.add_argument("--home", type=Path, help="data folder (default: a temporary one)")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-contacts-"))
    embedder = OnnxMiniLMEmbedder()
    embedder.embed(["warm up"])
    settings = Settings(home=home, user="bench", log_level="WARNING")
    rt = open_runtime(settings, embedder=embedder)
    rng = random.Random(7)
    try:
        users = ["bench"] + [f"other-{i}" for i in range(args.other_users)]
        rates = []
        for user in users:
            uid = rt.store.user_for_identity("local", user, "local", None)
            scope = rt.scope_for(uid)
            scope.account.set_profile(locale="es-ES")
            rows = [(f"row {i}", person(rng, i)) for i in range(args.contacts)]
            summary = scope.contacts.import_contacts(iter(rows), total=len(rows), embed=False)
            rates.append((user, summary.rows, summary.added, summary.seconds, summary.rows / summary.seconds))
            print(f"imported {summary.added} contacts for {user} in {summary.seconds:.2f} s "
                  f"({summary.rows / summary.seconds:.0f}/s, {len(summary.warnings)} values dropped)", file=sys.stderr)
        svc = rt.scope_for(rt.local_user_id()).contacts
        total = sum(r[2] for r in rates)
        cold = timed(lambda: svc.search("maria garcia"))
        qs = queries(svc, args.queries, rng)
        service: dict[str, list[float]] = {}
        for kind, items in qs.items():
            for q in items[:5]:
                svc.search(q)
            service[kind] = [timed(lambda q=q: svc.search(q, 10)) for q in items]
        mcp = asyncio.run(through_mcp(settings, embedder, qs))
        bare = asyncio.run(through_mcp(settings, embedder, qs, client_validation=False))
    finally:
        rt.close()

    print(f"\n# bench_contacts: {args.contacts} contacts for the user, {total} in the store "
          f"({platform.python_version()}, {platform.machine()}, load {load_average()})\n")
    print(markdown_table(["import", "rows", "added", "seconds", "contacts/s"],
                         [(u, n, a, round(s, 2), round(r)) for u, n, a, s, r in rates]))
    print(f"\ncold index build on the first search: {cold * 1000:.1f} ms\n")
    rows = []
    for kind in [*qs, "all"]:
        cols = []
        for samples in (service, bare, mcp):
            flat = [x for v in samples.values() for x in v] if kind == "all" else samples[kind]
            m = summary_ms(flat)
            cols += [m["p50"], m["p95"]]
        rows.append((kind, len(service[kind]) if kind != "all" else sum(map(len, service.values())), *cols))
    print(markdown_table(["search_clients (limit 10)", "n", "service p50", "service p95", "MCP server p50",
                          "MCP server p95", "MCP + SDK client validation p50", "p95"], rows))
    print("\n(ms; 'MCP server': in-process client round trip without the SDK client's jsonschema check of the result)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
