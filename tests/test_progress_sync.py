"""sync_contacts tracked as a job: the client hears progress notifications, the job row (what get_job and
the person's page read) follows the same milestones, and a sync whose process died mid-way is finished by
a worker, resuming from the stored sync token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp.types import CallToolResult

from jarvis_mcp import bootstrap
from jarvis_mcp.contacts.ports import SourceContact, SourcePage
from jarvis_mcp.jobs.ports import SYNC_JOB, NewJob
from jarvis_mcp.jobs.service import JobService, JobWorker


class FakeGoogle:
    provider = "google"

    def __init__(self, pages: list[SourcePage]) -> None:
        self._pages = pages

    def pages(self, sync_token: str | None) -> Iterator[SourcePage]:
        yield from self._pages


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


PEOPLE = {"en": ["Friend", "Client"], "es": ["Amiga", "Cliente"]}


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_a_sync_is_a_job_whose_milestones_the_client_hears(client_for, runtime, monkeypatch, lang: str) -> None:
    word = PEOPLE[lang][0]
    people = [SourceContact(f"people/c{i}", name=f"{word} {i}", phones=(f"+3461200{i:04d}",)) for i in range(5)]
    fake = FakeGoogle([SourcePage(tuple(people[:3]), full=True, total=5),
                       SourcePage(tuple(people[3:]), full=True, total=5, next_sync_token="tok-1")])
    monkeypatch.setattr(bootstrap, "make_contact_source", lambda provider, info: fake)
    rt = runtime("local")
    user = rt.local_user_id()
    rt.scope_for(user).contacts.connect("google", {"refresh_token": "r"})
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with client_for("local") as c:
        out = ok(await c.call_tool("sync_contacts", {}, progress_callback=on_progress))
    assert out["added"] == 5 and seen == [(3, 5), (5, 5)]
    rows = rt.store.db.conn.execute(  # type: ignore[attr-defined]
        "SELECT id, status, done, total FROM jobs WHERE user_id = ? AND kind = ?", (user, SYNC_JOB)).fetchall()
    assert [tuple(r[1:]) for r in rows] == [("done", 5, 5)]
    job = JobService(user, rt.jobs).get(rows[0][0])  # type: ignore[arg-type]
    assert job.result is not None and job.result["added"] == 5 and job.percent == 100.0


def test_a_sync_whose_process_died_is_finished_by_a_worker(runtime, monkeypatch) -> None:
    people = [SourceContact(f"people/c{i}", name=f"Cliente {i}", phones=(f"+3461300{i:04d}",)) for i in range(4)]
    monkeypatch.setattr(bootstrap, "make_contact_source",
                        lambda provider, info: FakeGoogle([SourcePage(tuple(people), full=True, total=4,
                                                                      next_sync_token="t")]))
    rt = runtime("local")
    user = rt.local_user_id()
    rt.scope_for(user).contacts.connect("google", {"refresh_token": "r"})
    assert rt.jobs is not None
    # The tool call's process died right after starting the job: its short lease is all that is left.
    dead = rt.jobs.start(user, NewJob(SYNC_JOB, {"provider": "google"}), "call-dead", 0.0)
    rt.start_worker()  # this process's worker thread, with the runtime's handlers
    assert isinstance(rt.worker, JobWorker)
    deadline = time.monotonic() + 30
    while (done := JobService(user, rt.jobs).get(dead.id)).status != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done.status == "done" and done.result is not None and done.result["added"] == 4
    assert len(rt.scope_for(user).contacts.search("Cliente", limit=10).hits) == 4
