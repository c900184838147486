"""What get_job returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class JobInfo(BaseModel):
    job_id: str
    kind: str = Field(description="What the job does, e.g. index_document.")
    status: Literal["queued", "running", "done", "failed"]
    done: int = Field(description="Steps finished (e.g. passages embedded).")
    total: int | None = Field(None, description="Steps in all, when known.")
    percent: float | None = Field(None, description="done / total as a percentage, when total is known.")
    message: str = Field(description="The last milestone reached.")
    result: dict[str, Any] | None = Field(None, description="What the job produced, once done.")
    error: str | None = Field(None, description="Why it failed, when failed.")
    created_at: datetime
    updated_at: datetime
    poll_again_seconds: int | None = Field(None, description="When to call get_job again; null once finished.")
