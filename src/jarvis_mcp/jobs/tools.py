"""The jobs toolset: get_job, to follow work that outlasts one tool call (e.g. indexing a big document)."""

from __future__ import annotations

from typing import Annotated

from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from jarvis_mcp.handlers import Handlers
from jarvis_mcp.jobs.models import JobInfo
from jarvis_mcp.render import json_result


def register(h: Handlers) -> None:
    @h.tool(
        title="Get job",
        description=(
            "Follow background work a tool handed off (add_document returns a job_id for big documents): status "
            "queued, running, done or failed, progress done/total with the last milestone, and the result or "
            "the error. While unfinished, call again after poll_again_seconds; tell the user how far it is."
        ),
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def get_job(
        job_id: Annotated[str, Field(description="The job_id a tool returned.")],
    ) -> Annotated[CallToolResult, JobInfo]:
        # json_result defuses the result's stored text (a document's title).
        return json_result(h.scope().jobs.get(job_id))
