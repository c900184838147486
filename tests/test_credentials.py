"""Provider credentials: encrypted at rest with a server key, bound to their user and provider, never logged."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from jarvis_mcp import cli_data
from jarvis_mcp.account.credentials import CredentialService, CredentialUnreadable, Vault
from jarvis_mcp.config import ConfigError, Settings, load_settings

KEY = "k" * 40
INFO = {"refresh_token": "refresh-SECRET-42", "client_id": "cid", "client_secret": "csecret-SECRET",
        "token_uri": "https://oauth2.googleapis.com/token"}


def test_seal_and_open() -> None:
    vault = Vault.for_settings(Settings(secret_key=SecretStr(KEY)))
    sealed = vault.seal(b"hello", "user-1\x1fgoogle")
    assert b"hello" not in sealed and sealed != vault.seal(b"hello", "user-1\x1fgoogle")  # fresh nonce each time
    assert vault.open(sealed, "user-1\x1fgoogle") == b"hello"
    # The same JARVIS_SECRET_KEY on another server opens it.
    assert Vault.for_settings(Settings(secret_key=SecretStr(KEY))).open(sealed, "user-1\x1fgoogle") == b"hello"


def test_a_secret_is_bound_to_its_user_and_provider() -> None:
    vault = Vault.for_settings(Settings(secret_key=SecretStr(KEY)))
    sealed = vault.seal(b"token", "alice\x1fgoogle")
    for context in ("bob\x1fgoogle", "alice\x1fmicrosoft"):
        with pytest.raises(CredentialUnreadable, match="integrity"):
            vault.open(sealed, context)


def test_tampering_and_key_changes_are_detected() -> None:
    vault = Vault.for_settings(Settings(secret_key=SecretStr(KEY)))
    sealed = vault.seal(b"token", "ctx")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(CredentialUnreadable, match="integrity"):
        vault.open(tampered, "ctx")
    other = Vault.for_settings(Settings(secret_key=SecretStr("o" * 40)))
    with pytest.raises(CredentialUnreadable, match="another server key"):
        other.open(sealed, "ctx")
    with pytest.raises(CredentialUnreadable, match="unknown format"):
        vault.open(b"XX" + sealed[2:], "ctx")


def test_local_key_file_is_generated_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    first = Vault.for_settings(settings)
    key_file = tmp_path / "home" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    sealed = first.seal(b"x", "c")
    assert Vault.for_settings(settings).open(sealed, "c") == b"x"


def test_short_server_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JARVIS_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="JARVIS_SECRET_KEY: .*at least 32 characters"):
        load_settings()


def test_credentials_in_the_store_are_ciphertext_and_per_user(runtime) -> None:
    rt = runtime("alice")
    alice_id = rt.local_user_id()
    bob_id = rt.store.user_for_identity("local", "bob", "local", None)
    vault = Vault.for_settings(rt.settings)
    alice = CredentialService(alice_id, rt.store, vault)
    bob = CredentialService(bob_id, rt.store, lambda: vault)
    alice.save("google", INFO)
    assert alice.load("google") == INFO
    raw = rt.store.get_credential(alice_id, "google")
    assert raw is not None and b"SECRET" not in raw and b"refresh" not in raw
    assert bob.load("google") is None
    # Alice's ciphertext planted in Bob's row does not open as Bob's.
    rt.store.put_credential(bob_id, "google", raw)
    with pytest.raises(CredentialUnreadable):
        bob.load("google")
    assert alice.delete("google") is True and alice.load("google") is None and alice.delete("google") is False


def test_connect_google_stores_the_refresh_token_for_the_stdio_user(settings_for, tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture, capsys) -> None:
    secrets = tmp_path / "client_secret.json"
    secrets.write_text('{"installed": {"client_id": "cid"}}')
    seen: list[Path] = []

    def consent(path: Path) -> dict[str, object]:  # stands in for the browser consent
        seen.append(path)
        return dict(INFO)

    caplog.set_level(logging.DEBUG)
    settings = settings_for("local")
    assert cli_data.connect_google(settings, secrets, consent=consent) == 0
    assert seen == [secrets]
    assert "connected Google Contacts" in capsys.readouterr().out
    from jarvis_mcp.bootstrap import open_runtime

    rt = open_runtime(settings)  # the embedder the command opened the store with (the configured default)
    try:
        assert rt.scope_for(rt.local_user_id()).contacts.credentials.load("google") == INFO
    finally:
        rt.close()
    files = [settings.database_path, Path(f"{settings.database_path}-wal")]
    db = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"refresh-SECRET-42" not in db and b"csecret-SECRET" not in db
    assert "SECRET" not in caplog.text


def test_connect_google_needs_the_client_secrets_file(settings_for, tmp_path: Path, capsys) -> None:
    assert cli_data.connect_google(settings_for("local"), tmp_path / "missing.json", consent=lambda p: {}) == 2
    assert "no such file" in capsys.readouterr().err


def test_connect_google_without_refresh_token_fails_cleanly(settings_for, tmp_path: Path, capsys) -> None:
    secrets = tmp_path / "client_secret.json"
    secrets.write_text("{}")

    def consent(path: Path) -> dict[str, object]:
        raise ValueError("Google returned no refresh token; revoke the app's access in your Google account and retry")

    assert cli_data.connect_google(settings_for("local"), secrets, consent=consent) == 1
    assert "no refresh token" in capsys.readouterr().err
