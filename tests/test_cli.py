"""The command line as a user runs it: `token issue`, `import memories`, `doctor`, in a subprocess."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import apsw
import pytest
from servers import run_cli

from jarvis_mcp import cli
from jarvis_mcp.config import Settings
from jarvis_mcp.tokens import JwtVerifier

SECRET = "cli-secret-" + "z" * 32


def _memories(home: Path) -> list[tuple[str, str, str]]:
    """(text, kind, tags) of every stored memory; a missing database means nothing was written."""
    db = home / "jarvis.db"
    if not db.exists():
        return []
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [tuple(r) for r in conn.execute("SELECT text, kind, tags FROM memories ORDER BY seq")]  # type: ignore[misc]
    finally:
        conn.close()


# --- token issue --------------------------------------------------------------------------------------


async def test_token_issue_prints_a_token_that_verifies(tmp_path: Path) -> None:
    done = run_cli(["token", "issue", "--user", "alice", "--ttl", "15m", "--auth-method", "telegram"],
                   home=tmp_path, env={"JARVIS_JWT_SECRET": SECRET})
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    access = await JwtVerifier(Settings(home=tmp_path, jwt_secret=SECRET)).verify_token(token)  # type: ignore[arg-type]
    assert access is not None and access.subject == "alice"
    assert access.claims is not None and access.claims["auth_method"] == "telegram"
    assert access.claims["exp"] - access.claims["iat"] == 15 * 60
    assert abs(access.claims["iat"] - time.time()) < 60
    assert SECRET not in done.stdout + done.stderr
    # signed with this secret only
    other = Settings(home=tmp_path, jwt_secret="another-" + "q" * 32)  # type: ignore[arg-type]
    assert await JwtVerifier(other).verify_token(token) is None


async def test_token_issue_uses_the_configured_audience_and_issuer(tmp_path: Path) -> None:
    env = {"JARVIS_JWT_SECRET": SECRET, "JARVIS_JWT_AUDIENCE": "https://jarvis.example/mcp",
           "JARVIS_JWT_ISSUER": "https://issuer.example"}
    done = run_cli(["token", "issue", "--user", "bob"], home=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    settings = Settings(home=tmp_path, jwt_secret=SECRET, jwt_audience="https://jarvis.example/mcp",  # type: ignore[arg-type]
                        jwt_issuer="https://issuer.example")
    access = await JwtVerifier(settings).verify_token(token)
    assert access is not None and access.claims is not None
    assert (access.claims["aud"], access.claims["iss"]) == ("https://jarvis.example/mcp", "https://issuer.example")


def test_token_issue_needs_the_secret(tmp_path: Path) -> None:
    done = run_cli(["token", "issue", "--user", "alice"], home=tmp_path)
    assert done.returncode == 2
    assert "JARVIS_JWT_SECRET" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("ttl", ["forever", "0", "31d"])
def test_token_issue_rejects_a_bad_ttl(tmp_path: Path, ttl: str) -> None:
    done = run_cli(["token", "issue", "--user", "alice", f"--ttl={ttl}"], home=tmp_path,
                   env={"JARVIS_JWT_SECRET": SECRET})
    assert done.returncode == 2
    assert "TTL" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_token_issue_requires_a_user(tmp_path: Path) -> None:
    done = run_cli(["token", "issue"], home=tmp_path, env={"JARVIS_JWT_SECRET": SECRET})
    assert done.returncode == 2 and "--user" in done.stderr


# --- import memories ----------------------------------------------------------------------------------


def test_import_jsonl(tmp_path: Path) -> None:
    home, src = tmp_path / "home", tmp_path / "memories.jsonl"
    lines = [
        {"text": "Mum's birthday is on the 3rd of May", "kind": "event", "tags": ["family"]},
        {"text": "Prefers tea without sugar", "kind": "preference"},
        {"text": "Met Olga at the Lisbon conference", "occurred_at": "2024-05-01T09:30:00+01:00"},
        {"text": "Renew the car insurance", "kind": "task", "tags": ["car", "admin"], "occurred_at": None},
    ]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    done = run_cli(["import", "memories", str(src)], home=home)
    assert done.returncode == 0, done.stderr
    assert "4/4" in done.stderr  # progress goes to stderr
    assert done.stdout.startswith("imported 4 new memories, 0 already stored")
    assert len(done.stdout.strip().splitlines()) == 1
    stored = _memories(home)
    assert [(t, k) for t, k, _ in stored] == [(x["text"], x.get("kind", "note")) for x in lines]
    assert json.loads(stored[0][2]) == ["family"]

    again = run_cli(["import", "memories", str(src)], home=home)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("imported 0 new memories, 4 already stored")
    assert len(_memories(home)) == 4


def test_import_text_lines(tmp_path: Path) -> None:
    home, src = tmp_path / "home", tmp_path / "notes.txt"
    src.write_text("The wifi password is on the fridge\n\n  Bins go out on Tuesday  \nCall the plumber\n", encoding="utf-8")
    done = run_cli(["import", "memories", str(src)], home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 3 new memories, 0 already stored")
    assert [(t, k) for t, k, _ in _memories(home)] == [
        ("The wifi password is on the fridge", "note"), ("Bins go out on Tuesday", "note"), ("Call the plumber", "note"),
    ]
    again = run_cli(["import", "memories", str(src)], home=home)
    assert again.stdout.startswith("imported 0 new memories, 3 already stored")


def test_imported_memories_belong_to_the_configured_user(tmp_path: Path) -> None:
    home, src = tmp_path / "home", tmp_path / "notes.txt"
    src.write_text("Only for erin\n", encoding="utf-8")
    assert run_cli(["import", "memories", str(src)], home=home, env={"JARVIS_USER": "erin"}).returncode == 0
    done = run_cli(["import", "memories", str(src)], home=home, env={"JARVIS_USER": "fred"})
    # the same text is new for another user: dedup never crosses users
    assert done.stdout.startswith("imported 1 new memories, 0 already stored"), done.stdout
    assert len(_memories(home)) == 2


@pytest.mark.parametrize(
    ("bad_line", "named"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "'text'"),
        ('{"kind": "fact"}', "'text'"),
        ('{"text": 5}', "'text'"),
        ('{"text": "x", "kind": "bogus"}', "kind"),
        ('{"text": "x", "tags": "family"}', "tags"),
        ('{"text": "x", "tags": ["no spaces allowed!"]}', "tags"),
        ('{"text": "x", "occurred_at": "yesterday"}', "occurred_at"),
        ('{"text": "x", "tag": ["family"]}', "'tag'"),
        ('{"text": "   "}', "text"),
        (json.dumps({"text": "x" * 10_001}), "text"),
    ],
)
def test_import_refuses_a_bad_line_and_writes_nothing(
    tmp_path: Path, bad_line: str, named: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: every line is checked before the store is opened, so this is the same path the command takes.
    for name in [k for k in os.environ if k.startswith("JARVIS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("JARVIS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cli, "setup_logging", lambda level: None)  # keep pytest's log capture in place
    src = _with_bad_line(tmp_path, bad_line)
    assert cli.main(["import", "memories", str(src)]) == 2
    out, err = capsys.readouterr()
    assert f"{src}:301:" in err and named in err
    assert out == ""
    assert _memories(tmp_path / "home") == []


def test_import_refuses_a_bad_json_line_from_the_command(tmp_path: Path) -> None:
    src = _with_bad_line(tmp_path, '{"text": "x", "occurred_at": "yesterday"}')
    done = run_cli(["import", "memories", str(src)], home=tmp_path / "home")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{src}:301: occurred_at" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
    assert _memories(tmp_path / "home") == []


def _with_bad_line(tmp_path: Path, bad_line: str) -> Path:
    src = tmp_path / "memories.jsonl"
    good = [json.dumps({"text": f"good memory number {i}"}) for i in range(300)]  # more than one write batch
    src.write_text("\n".join([*good, bad_line, good[0]]) + "\n", encoding="utf-8")
    return src


def test_import_refuses_a_file_that_is_not_text(tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_bytes(b"caf\xe9 au lait\n")
    done = run_cli(["import", "memories", str(src)], home=tmp_path / "home")
    assert done.returncode == 2 and "UTF-8" in done.stderr and "Traceback" not in done.stderr


def test_import_a_missing_file(tmp_path: Path) -> None:
    done = run_cli(["import", "memories", str(tmp_path / "nope.jsonl")], home=tmp_path / "home")
    assert done.returncode == 2 and "no such file" in done.stderr
    assert done.stdout == ""


# --- doctor and the rest -------------------------------------------------------------------------------


def test_doctor(tmp_path: Path) -> None:
    done = run_cli(["doctor"], home=tmp_path / "home", env={"JARVIS_USER": "gail"})
    assert done.returncode == 0, done.stderr
    assert "user:      gail (0 memories)" in done.stdout
    assert "http auth: off" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("ok:")
    with_auth = run_cli(["doctor"], home=tmp_path / "home", env={"JARVIS_JWT_SECRET": SECRET})
    assert with_auth.returncode == 0 and "http auth: bearer JWT" in with_auth.stdout
    assert SECRET not in with_auth.stdout + with_auth.stderr


def test_version_and_usage_errors(tmp_path: Path) -> None:
    done = run_cli(["--version"], home=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("jarvis-mcp ")
    assert run_cli([], home=tmp_path).returncode == 2
    assert run_cli(["serve", "--transport", "carrier-pigeon"], home=tmp_path).returncode == 2


# --- exit status: 2 the configuration is invalid, 3 a configured service is unreachable at start ---------

UNREACHABLE = {
    "redis": ({"JARVIS_REDIS_URL": "redis://127.0.0.1:1/0"}, "JARVIS_REDIS_URL: cannot reach Redis at 127.0.0.1:1"),
    "postgres": ({"JARVIS_STORE": "postgres", "JARVIS_DATABASE_URL": "postgresql://app:s3cret-pw@127.0.0.1:1/jarvis"},
                 "JARVIS_DATABASE_URL: cannot connect to app@127.0.0.1:1/jarvis"),
}


@pytest.mark.parametrize("service", sorted(UNREACHABLE))
@pytest.mark.parametrize("args", [["serve", "--transport", "http", "--port", "1"], ["serve"], ["doctor"]],
                         ids=["http", "stdio", "doctor"])
def test_a_service_unreachable_at_start_exits_3_with_one_line(tmp_path: Path, service: str, args: list[str]) -> None:
    env, message = UNREACHABLE[service]
    done = run_cli(args, home=tmp_path / "home", env=env, stdin="")
    # Was 3 over HTTP (uvicorn's start-up failure, with a traceback), 1 on stdio and 2 for doctor.
    assert done.returncode == 3, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "s3cret-pw" not in done.stderr


def test_an_invalid_setting_still_exits_2(tmp_path: Path) -> None:
    done = run_cli(["serve", "--transport", "http"], home=tmp_path / "home",
                   env={"JARVIS_REDIS_URL": "redis://127.0.0.1:1/0", "JARVIS_SHUTDOWN_GRACE_SECONDS": "-1"})
    assert done.returncode == 2 and "JARVIS_SHUTDOWN_GRACE_SECONDS" in done.stderr, done.stderr
