"""`jarvis-mcp demo`: the scripted stdio session runs cleanly, and a failure names its step."""

from __future__ import annotations

import sys

import pytest
from servers import run_cli

from jarvis_mcp import demo


def test_demo_runs_end_to_end_over_stdio() -> None:
    # The demo makes and removes its own data folder; home=None keeps the caller's JARVIS_* out.
    proc = run_cli(["demo"], home=None, timeout=demo.TOTAL_TIMEOUT_S + 30)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    for line in (
        "protocol 2026-07-28",
        "JARVIS: the user's personal memory and assistant tools.",
        "search_memory      read-only, idempotent",
        "forget             writes, destructive, idempotent",
        "onboarding_complete=false, missing: name, timezone, locale, pronouns",
        "name=Ada, timezone=Europe/Madrid, locale=es-ES, onboarding_complete=true",
        "created=false, duplicate_of",
        "error: Error executing tool remember: kind: must be one of",
        "3 turns stored as memories",
        "1. [fact] My dentist is Dr. Lucía Ruiz",
        "1. [task] Renew my passport",
        "1. [person] Marta is my sister",
        "forgotten: 1, not_found: 0",
        "memory not found:",
        "Memories relevant to the query:",
        "| Marta's wedding plans",
        "'lucia ruis' -> Lucía Ruiz",
        "'612 34' -> Lucía Ruiz",
        "Demo complete:",
    ):
        assert line in out, f"missing {line!r} in demo output:\n{out}"
    assert "FAILED" not in proc.stderr


def test_a_server_that_dies_fails_the_demo_with_a_message(capfd: pytest.CaptureFixture[str]) -> None:
    code = demo.run_demo(command=[sys.executable, "-c", "import sys; sys.exit(3)"])
    assert code == 1
    err = capfd.readouterr().err
    assert "jarvis-mcp demo: FAILED at step 0 (connect): " in err


def test_a_failing_step_is_named(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "MEMORIES", [{"text": "Water the plants.", "kind": "chore"}])
    code = demo.run_demo()
    assert code == 1
    captured = capfd.readouterr()
    assert "FAILED at step 6 (Remember what the user shares): remember answered an error: " in captured.err
    assert "kind: must be one of" in captured.err
    assert "Demo complete" not in captured.out
