"""`jarvis-mcp export conversations`: JSONL to stdout or a file, and optionally a fine-tuning job.
Like cli.py it prints its result to stdout and its progress and problems to stderr."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jarvis_mcp.config import ConfigError, Settings

if TYPE_CHECKING:
    import httpx

    from jarvis_mcp.ports import Embedder

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"


def parse_since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--since: not a date ({value!r}); use ISO 8601, e.g. 2026-01-31") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def export_conversations(settings: Settings, *, user: str | None, since: str | None, sentiment: str | None,
                         out: Path | None, upload: bool, model: str,
                         http_client: httpx.Client | None = None, embedder: Embedder | None = None) -> int:
    from jarvis_mcp.bootstrap import make_openai_client, open_runtime
    from jarvis_mcp.export.service import ExportFilter, ExportService, ExportStats, to_jsonl

    flt = ExportFilter(since=parse_since(since), sentiment=sentiment)
    # Checked before anything is read, so a missing key costs nothing.
    client = make_openai_client(settings, http_client=http_client) if upload else None
    runtime = open_runtime(settings, embedder=embedder)
    try:
        user_id = user or runtime.local_user_id()
        if runtime.store.get_user(user_id) is None:
            raise ConfigError(f"--user: no user {user_id!r} in this store")
        scope = runtime.scope_for(user_id)
        service = ExportService(user_id, runtime.store, scope.sentiment if sentiment else None)
        stats = ExportStats()
        body = "".join(to_jsonl(e) for e in service.examples(flt, stats))
    finally:
        runtime.close()
    print(f"export: {stats.exported} of {stats.conversations} conversations (skipped: "
          f"{stats.skipped_sentiment} by sentiment, {stats.skipped_incomplete} without both a user and an "
          "assistant turn)", file=sys.stderr)
    if not stats.exported:
        print("jarvis-mcp: no conversations to export for this user and these filters", file=sys.stderr)
        return 1
    if out is not None:
        out.write_text(body, encoding="utf-8")
        print(f"export: wrote {out}", file=sys.stderr)
    elif not upload:
        sys.stdout.write(body)
    if client is not None:
        return _start_job(client, body.encode("utf-8"), model)
    return 0


def _start_job(client: Any, data: bytes, model: str) -> int:  # noqa: ANN401 - openai.OpenAI, an optional package
    import openai

    try:
        print("upload: sending the training file", file=sys.stderr)
        uploaded = client.files.create(file=("conversations.jsonl", io.BytesIO(data)), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(training_file=uploaded.id, model=model)
    except openai.APIStatusError as exc:
        print(f"jarvis-mcp: OpenAI refused the upload ({exc.status_code}): {exc.message}", file=sys.stderr)
        return 1
    except openai.APIConnectionError as exc:
        print(f"jarvis-mcp: OpenAI could not be reached: {exc}", file=sys.stderr)
        return 3
    print(f"fine-tuning job {job.id} ({job.status}) on {model}, training file {uploaded.id}")
    return 0
