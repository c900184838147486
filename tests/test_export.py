"""`jarvis-mcp export conversations`: per-user fine-tuning JSONL, its filters, and the upload at the HTTP boundary."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from jarvis_mcp import cli
from jarvis_mcp.config import ConfigError, Settings
from jarvis_mcp.export.cli import export_conversations
from jarvis_mcp.export.service import SYSTEM_PROMPT
from jarvis_mcp.memory.service import Turn
from jarvis_mcp.runtime import Runtime

ES_HAPPY = [("user", "¡Muchas gracias! Estoy muy contenta, la reunión con Laura salió genial."),
            ("assistant", "¡Qué alegría! Lo apunto: la reunión con Laura fue un éxito.")]
EN_ANGRY = [("user", "This is awful. I'm really angry and disappointed with the terrible delivery."),
            ("assistant", "I'm sorry. I'll note that the delivery was late and draft a complaint.")]
BOB_SECRET = [("user", "Bob's private plan: buy the Zebracorp shares on Friday."),
              ("assistant", "Noted, Bob.")]


def _log(rt: Runtime, user_id: str, turns: list[tuple[str, str]], at: str | None = None) -> None:
    when = datetime.fromisoformat(at) if at else None
    rt.scope_for(user_id).memory.log_conversation([Turn(role=r, content=c, at=when) for r, c in turns])


Export = Callable[..., tuple[int, list[dict], str]]


@pytest.fixture
def run_export(embedder: Any, capsys: pytest.CaptureFixture[str]) -> Export:
    """export_conversations with the session's embedder (the store the test wrote): (exit, JSONL lines, stderr)."""

    def run(settings: Settings, **kw: Any) -> tuple[int, list[dict], str]:
        args: dict[str, Any] = {"user": None, "since": None, "sentiment": None, "out": None, "upload": False,
                                "model": "gpt-4o-mini-2024-07-18", "embedder": embedder} | kw
        code = export_conversations(settings, **args)
        out, err = capsys.readouterr()
        # JSONL lines parsed; any other line (the upload's report) kept as it is
        return code, [json.loads(line) if line.startswith("{") else line for line in out.splitlines()], err

    return run


@pytest.fixture
def alice_and_bob(runtime: Callable[..., Runtime]) -> tuple[str, str]:
    rt = runtime("alice")
    alice = rt.local_user_id()
    bob = rt.store.user_for_identity("local", "bob", "local", None)
    _log(rt, alice, ES_HAPPY, "2026-03-01T10:00:00+01:00")
    _log(rt, alice, EN_ANGRY, "2026-05-01T10:00:00+00:00")
    _log(rt, bob, BOB_SECRET)
    # What must never be exported: a tool's arguments in the audit, a plain memory, the voice key.
    rt.store.record_action(alice, "send_email", {"body": "AUDIT-ONLY-ARGUMENT"}, "ok", None, 3.0)
    rt.scope_for(alice).memory.remember("My bank PIN hint is NOTE-ONLY-TEXT")
    return alice, bob


def test_exports_the_users_conversations_in_openai_chat_format(
        alice_and_bob: tuple[str, str], settings_for: Callable[..., Settings], run_export: Export) -> None:
    code, lines, err = run_export(settings_for("alice"))
    assert code == 0
    assert [m["messages"] for m in lines] == [
        [{"role": "system", "content": SYSTEM_PROMPT}] + [{"role": r, "content": c} for r, c in ES_HAPPY],
        [{"role": "system", "content": SYSTEM_PROMPT}] + [{"role": r, "content": c} for r, c in EN_ANGRY],
    ]  # oldest first, Spanish kept as written (not \\u-escaped)
    assert "export: 2 of 2 conversations" in err
    dumped = json.dumps(lines)
    for never in ("AUDIT-ONLY-ARGUMENT", "NOTE-ONLY-TEXT", "Zebracorp"):
        assert never not in dumped


def test_one_users_export_holds_nothing_of_another(
        alice_and_bob: tuple[str, str], settings_for: Callable[..., Settings], run_export: Export) -> None:
    alice, bob = alice_and_bob
    code, lines, _ = run_export(settings_for("alice"), user=bob)  # an operator picks bob by id
    assert code == 0
    assert [m["messages"][1:] for m in lines] == [[{"role": r, "content": c} for r, c in BOB_SECRET]]
    assert "Laura" not in json.dumps(lines)
    code, lines, _ = run_export(settings_for("bob"))  # bob's own local export
    assert "Laura" not in json.dumps(lines) and "delivery" not in json.dumps(lines)


@pytest.mark.parametrize(("sentiment", "expected"), [("positive", ES_HAPPY), ("negative", EN_ANGRY)])
def test_filters_by_sentiment_in_spanish_and_english(
        alice_and_bob: tuple[str, str], settings_for: Callable[..., Settings], run_export: Export,
        sentiment: str, expected: list[tuple[str, str]]) -> None:
    code, lines, err = run_export(settings_for("alice"), sentiment=sentiment)
    assert code == 0
    assert [m["messages"][1:] for m in lines] == [[{"role": r, "content": c} for r, c in expected]]
    assert "1 by sentiment" in err


def test_filters_by_date_and_says_when_nothing_is_left(
        alice_and_bob: tuple[str, str], settings_for: Callable[..., Settings], run_export: Export) -> None:
    code, lines, _ = run_export(settings_for("alice"), since="2026-04-01")
    assert code == 0 and [m["messages"][1]["content"] for m in lines] == [EN_ANGRY[0][1]]
    code, lines, err = run_export(settings_for("alice"), since="2027-01-01", sentiment="neutral")
    assert code == 1 and lines == [] and "no conversations to export" in err


def test_writes_to_a_file_with_nothing_on_stdout(
        alice_and_bob: tuple[str, str], settings_for: Callable[..., Settings], tmp_path: Path,
        run_export: Export) -> None:
    out = tmp_path / "train.jsonl"
    code, lines, err = run_export(settings_for("alice"), out=out)
    assert code == 0 and lines == [] and str(out) in err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_upload_creates_the_file_then_the_job(
        alice_and_bob: tuple[str, str], settings_for: Callable[..., Settings], run_export: Export) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/files":
            return httpx.Response(200, json={"id": "file-abc", "object": "file", "bytes": 10, "created_at": 0,
                                             "filename": "conversations.jsonl", "purpose": "fine-tune",
                                             "status": "processed"})
        return httpx.Response(200, json={"id": "ftjob-1", "object": "fine_tuning.job", "status": "validating_files",
                                         "model": "gpt-4o-mini-2024-07-18", "training_file": "file-abc",
                                         "created_at": 0})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    settings = settings_for("alice", openai_api_key="sk-test-key")
    code, printed, err = run_export(settings, upload=True, sentiment="positive", model="gpt-4o-mini-2024-07-18",
                           http_client=client)
    assert code == 0
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/v1/files"), ("POST", "/v1/fine_tuning/jobs")]
    upload, job = seen
    assert upload.headers["authorization"] == "Bearer sk-test-key"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    body = upload.content
    assert b'name="purpose"\r\n\r\nfine-tune' in body
    assert b'filename="conversations.jsonl"' in body
    sent = [json.loads(part) for part in body.split(b"\r\n") if part.startswith(b'{"messages"')]
    assert [m["messages"][1]["content"] for m in sent] == [ES_HAPPY[0][1]]  # the filter applies to the upload
    assert json.loads(job.content) == {"training_file": "file-abc", "model": "gpt-4o-mini-2024-07-18"}
    assert "upload:" in err
    # The JSONL went to OpenAI, not stdout: stdout holds the job's one line.
    assert printed == ["fine-tuning job ftjob-1 (validating_files) on gpt-4o-mini-2024-07-18, training file file-abc"]


def test_a_refused_upload_starts_no_job_and_exits_1(
        alice_and_bob: tuple[str, str], settings_for: Callable[..., Settings], run_export: Export) -> None:
    seen: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(400, json={"error": {"message": "Invalid file format", "type": "invalid_request_error"}})

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    code, printed, err = run_export(settings_for("alice", openai_api_key="sk-test"), upload=True, http_client=client)
    assert code == 1 and printed == [] and seen == ["/v1/files"]
    assert "OpenAI refused the upload (400)" in err and "Invalid file format" in err


def test_upload_without_a_key_names_the_setting_and_sends_nothing(
        alice_and_bob: tuple[str, str], settings_for: Callable[..., Settings], run_export: Export) -> None:
    with pytest.raises(ConfigError, match="JARVIS_OPENAI_API_KEY"):
        run_export(settings_for("alice"), upload=True)


def test_an_unknown_user_is_named(alice_and_bob: tuple[str, str], settings_for: Callable[..., Settings],
                                  run_export: Export) -> None:
    with pytest.raises(ConfigError, match="--user"):
        run_export(settings_for("alice"), user="00000000-0000-0000-0000-000000000000")


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("JARVIS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("JARVIS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cli, "setup_logging", lambda level: None)
    return tmp_path / "home"


@pytest.mark.parametrize(("args", "named"), [
    (["--format", "csv"], "--format"),
    (["--format", "openai-chat", "--since", "last tuesday"], "--since"),
    (["--format", "openai-chat", "--sentiment", "angry"], "--sentiment"),
    (["--format", "openai-chat", "--upload"], "JARVIS_OPENAI_API_KEY"),
])
def test_bad_input_from_the_command_is_named_and_exits_2(
        clean_env: Path, capsys: pytest.CaptureFixture[str], args: list[str], named: str) -> None:
    try:
        code = cli.main(["export", "conversations", *args])
    except SystemExit as exc:  # argparse's own refusal
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 2 and named in err and out == ""


def test_the_command_with_no_conversations_exits_1(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["export", "conversations", "--format", "openai-chat"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "no conversations to export" in err


def test_since_reads_dates_without_a_zone_as_utc() -> None:
    from jarvis_mcp.export.cli import parse_since

    assert parse_since("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC).timestamp()
