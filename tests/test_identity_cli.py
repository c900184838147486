"""The command line with sign-in on: doctor says which methods are ready and what each still needs;
serve refuses to offer sign-in beyond loopback without an https JARVIS_PUBLIC_URL."""

from __future__ import annotations

from pathlib import Path

from servers import run_cli


def test_doctor_reports_the_sign_in_methods(tmp_path: Path) -> None:
    done = run_cli(["doctor"], home=tmp_path / "home", env={"JARVIS_SIGN_IN": "email,google,wallet,telegram",
                                                            "JARVIS_TELEGRAM_BOT_NAME": "jarvis_bot"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "sign-in:   authorization server" in out
    assert "email: ready" in out
    assert "wallet: ready" in out
    assert "google: not offered, needs JARVIS_GOOGLE_CLIENT_ID, JARVIS_GOOGLE_CLIENT_SECRET" in out
    assert "telegram: not offered, needs JARVIS_TELEGRAM_BOT_TOKEN" in out


def test_doctor_without_sign_in_says_how_to_turn_it_on(tmp_path: Path) -> None:
    done = run_cli(["doctor"], home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "sign-in:   off (set JARVIS_SIGN_IN=" in done.stdout


def test_serve_beyond_loopback_needs_an_https_public_url(tmp_path: Path) -> None:
    done = run_cli(["serve", "--transport", "http", "--host", "0.0.0.0", "--port", "1"], home=tmp_path / "home",
                   env={"JARVIS_SIGN_IN": "email"})
    assert done.returncode == 2
    assert "JARVIS_SIGN_IN: serving beyond loopback needs JARVIS_PUBLIC_URL" in done.stderr
