"""The job queue: progress notifications for add_document, big documents handed to the queue and polled
with get_job, a worker that dies mid-job taken over by another (exactly once), bad input, two users."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from typing import Any

import pytest
from fpdf import FPDF
from mcp.types import CallToolResult

from jarvis_mcp.adapters.sqlite.jobs import SqliteJobQueue
from jarvis_mcp.documents import service as documents_service
from jarvis_mcp.jobs.ports import NewJob
from jarvis_mcp.jobs.service import JobService, JobWorker
from jarvis_mcp.runtime import Runtime

PAGES_EN = [f"Page {i}: the lease of the flat on Baker Street, clause {i}, rent paid monthly. " * 8 for i in range(1, 6)]
PAGES_ES = [f"Página {i}: contrato de alquiler del piso en la calle Mayor, cláusula {i}, pago mensual. " * 8
            for i in range(1, 6)]


def make_pdf(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 5, text)
    return bytes(pdf.output())


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def long_text(lang: str, paragraphs: int) -> str:
    line = ("The tenant pays the rent on the first day of each month and keeps the garden tidy. "
            if lang == "en" else "El inquilino paga el alquiler el primer día de cada mes y cuida el jardín. ")
    return "\n\n".join(f"{i}. {line * 6}" for i in range(paragraphs))


@pytest.mark.parametrize("pages", [PAGES_EN, PAGES_ES], ids=["en", "es"])
async def test_add_document_reports_progress_for_a_multi_page_pdf(client_for, pages: list[str]) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with client_for("local") as c:
        data = base64.b64encode(make_pdf(pages)).decode()
        out = ok(await c.call_tool("add_document", {"title": "Lease", "content_base64": data,
                                                     "mime_type": "application/pdf"}, progress_callback=on_progress))
    assert out["job_id"] is None and out["passages"] > 0  # small: answered inline
    assert seen[0][2] is not None and seen[0][2].startswith("extracted 5 pages")
    embedded = seen[1:]
    assert embedded and embedded[-1][:2] == (out["passages"], out["passages"])
    assert embedded[-1][2] == f"embedded {out['passages']} of {out['passages']} passages"
    assert [p for p, _, _ in embedded] == sorted(p for p, _, _ in embedded)


async def poll(c: Any, job_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    states = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = ok(await c.call_tool("get_job", {"job_id": job_id}))
        states.append(state)
        if state["status"] in ("done", "failed"):
            return states
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {states[-1]}")


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_a_big_document_answers_with_a_job_that_reports_then_finishes(client_for, monkeypatch, lang: str) -> None:
    monkeypatch.setattr(documents_service, "QUEUE_ABOVE_CHARS", 2_000)  # the real threshold, made small
    async with client_for("local") as c:
        added = ok(await c.call_tool("add_document", {"title": "Contract", "text": long_text(lang, 150)}))
        assert added["job_id"] and added["passages"] == 0 and added["document"]["passages"] is None
        assert any("get_job" in w for w in added["warnings"])
        # Readable at once, before the passages are embedded.
        doc_id = added["document"]["id"]
        assert ok(await c.call_tool("get_document", {"document_id": doc_id}))["text"]
        states = await poll(c, added["job_id"])
        final = states[-1]
        assert final["status"] == "done", final
        assert final["result"]["document_id"] == doc_id and final["result"]["passages"] > 64
        assert final["done"] == final["total"] == final["result"]["passages"] and final["percent"] == 100.0
        assert final["poll_again_seconds"] is None
        # It was seen unfinished first (queued, or running part way).
        assert states[0]["status"] in ("queued", "running") and states[0]["poll_again_seconds"] == 5
        listed = ok(await c.call_tool("list_documents", {}))["documents"][0]
        assert listed["passages"] == final["result"]["passages"]
        query = "rent on the first day of the month" if lang == "en" else "alquiler el primer día del mes"
        hits = ok(await c.call_tool("search_memory", {"query": query, "kinds": ["document"]}))["hits"]
        assert hits and all(h["document_id"] == doc_id for h in hits)


@pytest.mark.parametrize("job_id, needle", [("", "job_id: must not be empty"), ("not-a-job", "job_id: must be a job id"),
                                            ("0b5e5c1e-2a4b-4d43-9b7a-8a3c6f0d0f11", "job not found")])
async def test_get_job_refuses_bad_input(client_for, job_id: str, needle: str) -> None:
    async with client_for("local") as c:
        result = await c.call_tool("get_job", {"job_id": job_id})
    assert result.is_error and needle in result.content[0].text


def queued_document(rt: Runtime, user: str, text: str) -> tuple[JobService, str, str]:
    """A document stored with its indexing queued, as add_document leaves a big one (no worker running)."""
    scope = rt.scope_for(rt.store.user_for_identity("local", user, "local", None))
    jobs = JobService(scope.user_id, rt.jobs)  # type: ignore[arg-type]
    scope.documents.jobs = jobs
    added = scope.documents.add("Contract", text=text)
    assert added.job_id is not None
    return jobs, added.job_id, added.document.id


def handlers(rt: Runtime) -> dict[str, Any]:
    return {"index_document": lambda user_id, payload, progress: rt.scope_for(user_id).documents.index_job(
        payload["document_id"], progress)}


class Killed(Exception):
    """The worker's process dies here: nothing after this line runs."""


def test_a_worker_killed_mid_job_is_taken_over_and_the_job_finishes_once(runtime, monkeypatch) -> None:
    monkeypatch.setattr(documents_service, "QUEUE_ABOVE_CHARS", 2_000)
    rt = runtime()
    queue = rt.jobs
    assert isinstance(queue, SqliteJobQueue)
    jobs, job_id, doc_id = queued_document(rt, "local", long_text("en", 150))
    user_id = jobs.user_id

    # Worker A claims the job with a short lease, embeds the first batch, and dies.
    a = queue.claim("worker-a", 0.3, 3)
    assert a is not None and a.id == job_id and a.attempts == 1

    def dies(done: int, total: int | None, message: str) -> None:
        assert queue.report(user_id, job_id, "worker-a", done, total, message, 0.3)
        raise Killed

    with pytest.raises(Killed):
        rt.scope_for(user_id).documents.index_job(doc_id, dies)
    part = jobs.get(job_id)
    assert part.status == "running" and 0 < part.done < (part.total or 0)
    # While A's lease holds, nobody else may take the job.
    b = JobWorker(queue, handlers(rt), lease_s=30)
    assert b.run_once() is None
    time.sleep(0.35)  # A's lease expires: A is presumed dead
    taken = b.run_once()
    assert taken is not None and taken.id == job_id and taken.attempts == 2
    done = jobs.get(job_id)
    assert done.status == "done" and done.result is not None
    passages = done.result["passages"]
    # Worker A waking up late can neither report nor finish what B now owns.
    assert not queue.report(user_id, job_id, "worker-a", 1, 2, "late", 30)
    assert not queue.finish(user_id, job_id, "worker-a", {"passages": 0}, None)
    assert jobs.get(job_id).result == done.result
    # Exactly once: every passage stored one time, none twice.
    rows = rt.store.db.conn.execute(  # type: ignore[attr-defined]
        "SELECT count(*), count(DISTINCT position) FROM memories WHERE user_id = ? AND document_id = ?",
        (user_id, doc_id)).fetchone()
    assert rows == (passages, passages)
    assert b.run_once() is None  # nothing left to do


def test_a_job_that_keeps_killing_workers_is_given_up(runtime) -> None:
    rt = runtime()
    queue = rt.jobs
    assert queue is not None
    user_id = rt.local_user_id()
    job = queue.enqueue(user_id, NewJob("index_document", {"document_id": "x"}))
    for attempt in (1, 2, 3):
        claimed = queue.claim(f"w{attempt}", 0.01, 3)
        assert claimed is not None and claimed.attempts == attempt
        time.sleep(0.02)
    assert queue.claim("w4", 0.01, 3) is None
    rec = queue.get_job(user_id, job.id)
    assert rec is not None and rec.status == "failed" and "3 times" in (rec.error or "")


def test_a_failing_job_says_why_and_another_users_job_is_missing(runtime) -> None:
    rt = runtime()
    queue = rt.jobs
    assert queue is not None
    alice = rt.store.user_for_identity("local", "alice", "local", None)
    bob = rt.store.user_for_identity("local", "bob", "local", None)
    job = JobService(alice, queue).enqueue(NewJob("index_document", {"document_id": "0b5e5c1e-2a4b-4d43-9b7a-8a3c6f0d0f11"}))
    assert JobWorker(queue, handlers(rt)).run_once() is not None
    failed = JobService(alice, queue).get(job.id)
    assert failed.status == "failed" and failed.error == "document not found: 0b5e5c1e-2a4b-4d43-9b7a-8a3c6f0d0f11"
    with pytest.raises(Exception, match=f"job not found: {job.id}"):
        JobService(bob, queue).get(job.id)


def test_a_worker_stopping_mid_job_hands_it_back_at_the_next_milestone(runtime) -> None:
    rt = runtime()
    queue = rt.jobs
    assert queue is not None
    user_id = rt.local_user_id()
    started = threading.Event()

    def endless(user: str, payload: dict[str, Any], progress: Any) -> dict[str, Any]:
        for i in range(10_000):
            progress(i, 10_000, f"step {i}")
            if i >= 3:
                started.set()
            time.sleep(0.005)
        return {}

    job = JobService(user_id, queue).enqueue(NewJob("endless", {}))
    worker = JobWorker(queue, {"endless": endless}, poll_s=0.01)
    worker.start()
    assert started.wait(10)
    worker.stop(timeout=10)
    back = JobService(user_id, queue).get(job.id)
    assert back.status == "queued" and "resumes" in back.message and 0 < back.done < 10_000
    again = queue.claim("next", 30, 3)
    assert again is not None and again.id == job.id  # at once, not after a lease expiry
