"""Documents: time to ingest a generated PDF (extraction, chunking, embedding, indexing), and search_memory
latency over one user's memories plus document passages, through an in-process MCP client.

    .venv/bin/python tools/bench_documents.py                              # 100 pages; 10k memories + 2,000 passages
    .venv/bin/python tools/bench_documents.py --pages 10 --memories 1000 --passages 200 --queries 50   # quick

Ingestion is all real: the PDF is made with fpdf2, read back with pypdf, chunked, and every passage is
embedded by the local ONNX model. For the search part the bulk rows (memories and extra document passages)
are written straight through the store with hashed-word vectors, as in bench_memory.py: they make the
index the right size; they are not MiniLM vectors, so this measures latency, not ranking quality. Each
timed search embeds its query with the real model, with the query cache off (JARVIS_CACHE_MB=0), and the
store with documents takes turns with one holding the same memories and no documents, query by query, so
the cost of the passages shows whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import resource
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench_common import (
    HashedVectors,
    load_average,
    markdown_table,
    summary_ms,
    synthetic_memories,
    synthetic_queries,
)
from fpdf import FPDF
from mcp import Client

from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.documents import ingest
from jarvis_mcp.documents.ports import NewDocument
from jarvis_mcp.memory.ports import NewMemory
from jarvis_mcp.server import build_server
from jarvis_mcp.text import content_hash, fold

USER = "bench"
GOAL_INGEST_S = 10.0

CLAUSES = (
    "The {party} shall pay the {item} of {amount} euros no later than the {day}th day of each {period}.",
    "Any notice under this agreement must be given in writing to the address of the {party} stated above.",
    "The {party} is responsible for the repair of the {thing} unless the damage was caused by the {other}.",
    "This agreement renews for successive periods of {n} months unless either party gives {n2} days' notice.",
    "Insurance of the {thing} is arranged by the {party}; the policy number is {code} with {insurer}.",
    "The deposit of {amount} euros is returned within {n2} days after the {thing} is handed back in good order.",
    "Late payments carry interest at {rate} per cent a year from the due date until the day of payment.",
    "The {party} may not sublet the {thing} without the prior written consent of the {other}.",
    "Disputes are settled by the courts of {city}, and the law of the place of the {thing} applies.",
    "Meter readings for water, gas and electricity are taken on the {day}th of {month} every year.",
)
FILL = {
    "party": ("tenant", "landlord", "supplier", "client", "contractor"),
    "other": ("tenant", "landlord", "supplier", "client", "contractor"),
    "item": ("rent", "service charge", "maintenance fee", "instalment"),
    "thing": ("flat", "boiler", "dishwasher", "roof", "garden", "parking space", "storage room"),
    "period": ("month", "quarter", "year"),
    "insurer": ("Kestrel Mutual", "Harbor Insurance", "Northwind Assurance"),
    "city": ("Madrid", "Lisbon", "Lyon", "Porto", "Valencia"),
    "month": ("January", "March", "June", "September", "November"),
}


def _clause(rng: random.Random) -> str:
    text = rng.choice(CLAUSES)
    values = {k: rng.choice(v) for k, v in FILL.items()}
    values.update(amount=f"{rng.randint(50, 5000):,}", day=rng.randint(1, 28), n=rng.choice((6, 12, 24)),
                  n2=rng.choice((15, 30, 60, 90)), rate=rng.choice((3, 4, 5, 8)),
                  code=f"P{rng.randint(100000, 999999)}")
    return text.format(**values)


def make_pdf(pages: int, chars_per_page: int, seed: int = 1) -> tuple[bytes, int]:
    """A contract-like PDF: numbered sections of clauses, about chars_per_page characters a page."""
    rng = random.Random(seed)
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=10)
    total = 0
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(0, 6, f"Section {page}. {rng.choice(FILL['thing']).capitalize()} terms", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        written = 0
        while written < chars_per_page:
            para = " ".join(_clause(rng) for _ in range(rng.randint(3, 5)))
            pdf.multi_cell(0, 4.4, para, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
            written += len(para)
        total += written
    return bytes(pdf.output()), total


class TimedEmbedder:
    """The real embedder, with the time spent in it added up."""

    def __init__(self, inner: OnnxMiniLMEmbedder) -> None:
        self.inner = inner
        self.model_id, self.dim = inner.model_id, inner.dim
        self.seconds = 0.0
        self.texts = 0

    def embed(self, texts):  # noqa: ANN001, ANN201 - ports.Embedder
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)


def _cpu() -> float:
    """CPU seconds used by this process, all threads: what the work costs whatever else the machine runs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_ingest(embedder: OnnxMiniLMEmbedder, pages: int, chars_per_page: int, repeat: int,
                   log: Any) -> dict[str, Any]:
    data, chars = make_pdf(pages, chars_per_page)
    log(f"  made a {pages}-page PDF: {len(data):,} bytes, {chars:,} characters of text")
    runs = []
    for i in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-docs-") as tmp:
            timed = TimedEmbedder(embedder)
            rt = open_runtime(Settings(home=Path(tmp)), embedder=timed)  # type: ignore[arg-type]
            try:
                docs = rt.scope_for(rt.local_user_id()).documents
                began = time.perf_counter()
                extracted = ingest.extract(data, ingest.PDF)
                extract_s = time.perf_counter() - began
                began, cpu = time.perf_counter(), _cpu()
                added = docs.add_bytes(data, title="Bench contract", filename="contract.pdf")
                total, cpu = time.perf_counter() - began, _cpu() - cpu
            finally:
                rt.close()
        assert added.created and added.document.pages == pages
        runs.append({"total_s": round(total, 3), "cpu_s": round(cpu, 3), "extract_s": round(extract_s, 3),
                     "embed_s": round(timed.seconds, 3), "embedded_texts": timed.texts, "passages": added.passages,
                     "chars": len(extracted.text), "load": load_average()})
        log(f"  run {i + 1}: {total:.2f} s for {added.passages} passages (embedding {timed.seconds:.2f} s; "
            f"{cpu:.1f} CPU-seconds; load {load_average()})")
    best = min(runs, key=lambda r: r["total_s"])
    return {"pages": pages, "pdf_bytes": len(data), "runs": runs, "best": best,
            "meets_goal": best["total_s"] < GOAL_INGEST_S}


def populate(settings: Settings, embedder: OnnxMiniLMEmbedder, memories: int, passages: int, log: Any) -> None:
    """One user with `memories` memories and `passages` document passages (in 20 documents), bulk-written."""
    hashed = HashedVectors(embedder.dim)
    rt = open_runtime(settings, embedder=embedder)
    try:
        user = rt.store.user_for_identity("local", USER, "local", None)
        synthetic = synthetic_memories(memories, seed=11)
        items = [NewMemory(kind=m.kind, text=m.text, content_hash=content_hash(fold(m.text)), tags=m.tags,
                           occurred_at=m.occurred_at) for m in synthetic]
        for start in range(0, len(items), 2000):
            batch = items[start : start + 2000]
            rt.store.insert_memories(user, batch, hashed.embed([it.text for it in batch]))
        rng = random.Random(5)
        per_doc = max(1, passages // 20)
        written = 0
        for d in range(20):
            if written >= passages:
                break
            count = min(per_doc, passages - written)
            doc_id = str(uuid.uuid4())
            blocks = [ingest.Block(" ".join(_clause(rng) for _ in range(7)), page=p // 3 + 1) for p in range(count * 2)]
            chunks = ingest.chunk_blocks(blocks)[:count]
            text = "\n\n".join(b.text for b in blocks)
            title = f"Contract {d + 1}"
            rt.store.add_document(user, NewDocument(
                id=doc_id, title=title, filename=f"contract-{d + 1}.pdf", mime_type=ingest.PDF, size=len(text),
                sha256=content_hash(doc_id), tags=("contracts",), pages=count // 3 + 1, text=text,
                search_key=fold(title)), 1 << 40)
            chunk_items = [NewMemory(kind="document", text=c.text, tags=("contracts",), position=i, document_id=doc_id,
                                     content_hash=content_hash("document", doc_id, str(i), c.text))
                           for i, c in enumerate(chunks)]
            rt.store.insert_memories(user, chunk_items, hashed.embed([c.text for c in chunk_items]))
            rt.store.mark_document_indexed(user, doc_id, len(chunk_items))
            written += len(chunk_items)
        log(f"  populated {rt.store.count_memories(user):,} rows ({written:,} document passages)")
    finally:
        rt.close()


async def measure_search(stores: dict[str, Settings], embedder: OnnxMiniLMEmbedder,
                         queries: list[str]) -> dict[str, dict[str, Any]]:
    """search_memory on each store, the stores taking turns query by query, so that whatever else the
    machine is doing weighs on all of them alike; then the same through MemoryService (no MCP)."""
    out: dict[str, dict[str, Any]] = {}
    async with AsyncExitStack() as stack:
        clients = {label: await stack.enter_async_context(Client(build_server(settings, embedder=embedder)))
                   for label, settings in stores.items()}
        for client in clients.values():
            for q in queries[:10]:  # warm-up: loads the vector matrix
                await client.call_tool("search_memory", {"query": q})
        for variant, extra in (("search_memory", {}), ("search_memory kinds=document", {"kinds": ["document"]})):
            samples: dict[str, list[float]] = {label: [] for label in clients}
            doc_hits = dict.fromkeys(clients, 0)
            for q in queries:
                for label, client in clients.items():
                    began = time.perf_counter()
                    result = await client.call_tool("search_memory", {"query": q, **extra})
                    samples[label].append(time.perf_counter() - began)
                    assert not result.is_error, result.content[0].text
                    doc_hits[label] += sum(h["kind"] == "document" for h in result.structured_content["hits"])
            for label in clients:
                out[f"{variant} [{label}]"] = {**summary_ms(samples[label]),
                                               "document_hits_per_query": round(doc_hits[label] / len(queries), 2)}
    runtimes = {label: open_runtime(settings, embedder=embedder) for label, settings in stores.items()}
    try:
        services = {label: rt.scope_for(rt.store.user_for_identity("local", USER, "local", None)).memory
                    for label, rt in runtimes.items()}
        samples = {label: [] for label in services}
        embed_only: list[float] = []
        for q in queries:
            for label, memory in services.items():
                began = time.perf_counter()
                memory.search(q)
                samples[label].append(time.perf_counter() - began)
            began = time.perf_counter()
            embedder.embed([q])
            embed_only.append(time.perf_counter() - began)
        for label in services:
            out[f"  piece: MemoryService.search, no MCP [{label}]"] = {**summary_ms(samples[label]),
                                                                      "document_hits_per_query": ""}
        out["  piece: embed the query"] = {**summary_ms(embed_only), "document_hits_per_query": ""}
    finally:
        for rt in runtimes.values():
            rt.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=100)
    p.add_argument("--chars-per-page", type=int, default=3000, help="a dense contract page holds ~3,000")
    p.add_argument("--repeat", type=int, default=1, help="ingestion runs (the best is reported)")
    p.add_argument("--memories", type=int, default=10_000)
    p.add_argument("--passages", type=int, default=2_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--only", choices=["ingest", "search"], help="run one half only")
    p.add_argument("--threads", type=int, help="onnxruntime threads (default: the embedder's own, up to 4)")
    args = p.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    embedder = OnnxMiniLMEmbedder(threads=args.threads)
    embedder.embed(["warm up"])
    results: dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, load {load_average()}"}
    if args.only != "search":
        log(f"ingesting a {args.pages}-page PDF")
        results["ingest"] = measure_ingest(embedder, args.pages, args.chars_per_page, args.repeat, log)
    with tempfile.TemporaryDirectory(prefix="bench-docsearch-") as tmp:
        if args.only == "ingest":
            stores = {}
        else:
            # cache_mb=0: every search embeds its query and ranks afresh, as a new question does.
            stores = {f"{args.memories:,} + {args.passages:,} passages":
                      Settings(home=Path(tmp) / "docs", user=USER, cache_mb=0),
                      f"{args.memories:,}, no documents": Settings(home=Path(tmp) / "base", user=USER, cache_mb=0)}
        for (label, settings), passages in zip(stores.items(), (args.passages, 0), strict=False):
            log(f"populating {label}")
            populate(settings, embedder, args.memories, passages, log)
        queries = synthetic_queries(args.queries // 2, seed=3) + [
            q for q in ("when is the rent due", "who repairs the boiler", "deposit returned after the flat",
                        "notice period to end the contract", "insurance policy number", "late payment interest",
                        "can I sublet the parking space", "which courts settle disputes", "meter readings",
                        "renewal of the agreement") for _ in range(max(1, args.queries // 20))][: args.queries // 2]
        if stores:
            log(f"timing {len(queries)} searches per store")
            results["search"] = asyncio.run(measure_search(stores, embedder, queries))
    results["load_after"] = load_average()

    print(f"# Documents benchmark ({results['machine']}; load after: {results['load_after']})\n")
    if "ingest" in results:
        best = results["ingest"]["best"]
        rows = [("ingest PDF", f"{args.pages} pages, {best['passages']} passages", best["total_s"],
                 f"extract {best['extract_s']} s, embed {best['embed_s']} s; {best['cpu_s']} CPU-s; load {best['load']}",
                 "yes" if results["ingest"]["meets_goal"] else "NO")]
        print(markdown_table(["what", "size", "seconds", "of which", f"< {GOAL_INGEST_S:.0f} s"], rows))
        print()
    if "search" in results:
        print(markdown_table(
            ["operation (ms) [store]", "p50", "p95", "p99", "mean", "document hits / query"],
            [(name, s["p50"], s["p95"], s["p99"], s["mean"], s["document_hits_per_query"])
             for name, s in results["search"].items()],
        ))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
