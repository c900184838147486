"""Settings: environment and TOML, validated at start-up; a bad value stops `jarvis-mcp` with exit 2 naming it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from servers import run_cli

from jarvis_mcp.config import ConfigError, Settings, load_settings

QUICK_S = 15.0  # generous: only catches a server that started serving instead of refusing
SECRET = "k" * 32


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean JARVIS_* environment with a temporary home, for load_settings in this process."""
    import os

    for name in [k for k in os.environ if k.startswith("JARVIS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("JARVIS_HOME", str(tmp_path / "home"))
    return monkeypatch


# --- load_settings ------------------------------------------------------------------------------------


def test_defaults(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = load_settings()
    assert (s.user, s.store, s.embedder, s.log_level) == ("local", "sqlite", "use", "INFO")
    assert s.home == tmp_path / "home" and s.database_path == tmp_path / "home" / "jarvis.db"
    assert not s.auth_enabled and s.jwt_secret is None


def test_environment_values(env: pytest.MonkeyPatch) -> None:
    env.setenv("JARVIS_USER", "carol")
    env.setenv("JARVIS_LOG_LEVEL", "debug")  # case-insensitive
    env.setenv("JARVIS_JWT_SECRET", SECRET)
    env.setenv("JARVIS_VECTOR_CACHE_MB", "64")
    s = load_settings()
    assert (s.user, s.log_level, s.vector_cache_mb) == ("carol", "DEBUG", 64)
    assert s.auth_enabled
    assert SECRET not in repr(s) and SECRET not in str(s.model_dump())


def test_overrides_win(env: pytest.MonkeyPatch) -> None:
    env.setenv("JARVIS_USER", "carol")
    assert load_settings(user="dave").user == "dave"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JARVIS_FOO", "1"),
        ("JARVIS_STORE", "mongo"),
        ("JARVIS_EMBEDDER", "word2vec"),
        ("JARVIS_LOG_LEVEL", "LOUD"),
        ("JARVIS_JWKS_URL", "ftp://x"),
        ("JARVIS_PUBLIC_URL", "jarvis.example/mcp"),
        ("JARVIS_VECTOR_CACHE_MB", "1"),
        ("JARVIS_VECTOR_CACHE_MB", "lots"),
        ("JARVIS_NEAR_DUPLICATE_THRESHOLD", "1.5"),
        ("JARVIS_USER", ""),
        ("JARVIS_JWT_SECRET", ""),
        ("JARVIS_JWT_SECRET", "hunter2-hunter2"),
    ],
)
def test_bad_environment_names_the_setting(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert f"{name}:" in str(caught.value)
    if name == "JARVIS_JWT_SECRET" and value:
        assert value not in str(caught.value)  # never echo a secret, even a bad one


def test_every_problem_is_reported_at_once(env: pytest.MonkeyPatch) -> None:
    env.setenv("JARVIS_STORE", "mongo")
    env.setenv("JARVIS_LOG_LEVEL", "LOUD")
    message = str(pytest.raises(ConfigError, load_settings).value)
    assert "JARVIS_STORE:" in message and "JARVIS_LOG_LEVEL:" in message


def test_unknown_settings_are_all_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("JARVIS_FOO", "1")
    env.setenv("JARVIS_USR", "typo")
    message = str(pytest.raises(ConfigError, load_settings).value)
    assert "JARVIS_FOO: unknown setting" in message and "JARVIS_USR: unknown setting" in message


def test_missing_config_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("JARVIS_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="JARVIS_CONFIG"):
        load_settings()


def test_toml_sets_values_and_env_overrides_it(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "jarvis.toml"
    toml.write_text('user = "carol"\nlog_level = "warning"\nvector_cache_mb = 32\n')
    env.setenv("JARVIS_CONFIG", str(toml))
    s = load_settings()
    assert (s.user, s.log_level, s.vector_cache_mb) == ("carol", "WARNING", 32)
    assert s.config == toml
    env.setenv("JARVIS_USER", "dave")
    s = load_settings()
    assert (s.user, s.log_level) == ("dave", "WARNING")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('colour = "blue"\n', "JARVIS_COLOUR: unknown setting"),
        ('store = "mongo"\n', "JARVIS_STORE:"),
        ('log_level = "LOUD"\n', "JARVIS_LOG_LEVEL:"),
    ],
)
def test_bad_toml_names_the_setting(env: pytest.MonkeyPatch, tmp_path: Path, text: str, named: str) -> None:
    toml = tmp_path / "jarvis.toml"
    toml.write_text(text)
    env.setenv("JARVIS_CONFIG", str(toml))
    with pytest.raises(ConfigError, match=named):
        load_settings()


def test_toml_that_is_not_toml(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "jarvis.toml"
    toml.write_text("user = carol without quotes\n")
    env.setenv("JARVIS_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="JARVIS_CONFIG"):
        load_settings()


def test_jwks_needs_an_audience_and_an_issuer(env: pytest.MonkeyPatch) -> None:
    env.setenv("JARVIS_JWKS_URL", "https://idp.example/jwks.json")
    with pytest.raises(ConfigError, match="JARVIS_JWT_AUDIENCE"):
        load_settings()
    env.setenv("JARVIS_JWT_AUDIENCE", "https://jarvis.example/mcp")
    # Without its issuer, a provider's users would share names with this server's own (issue 15).
    with pytest.raises(ConfigError, match="JARVIS_JWKS_URL needs JARVIS_JWT_ISSUER"):
        load_settings()
    env.setenv("JARVIS_JWT_ISSUER", "local")
    with pytest.raises(ConfigError, match="JARVIS_JWT_ISSUER: 'local'"):
        load_settings()
    env.setenv("JARVIS_JWT_ISSUER", "https://idp.example/")
    assert load_settings().auth_enabled


def test_email_link_issuers(env: pytest.MonkeyPatch) -> None:
    assert load_settings().email_link_issuers == []  # no outside issuer is trusted by default
    env.setenv("JARVIS_EMAIL_LINK_ISSUERS", "https://idp.example/")
    with pytest.raises(ConfigError, match="JARVIS_EMAIL_LINK_ISSUERS: 'https://idp.example/'"):
        load_settings()  # no provider is configured, so the entry could never apply
    env.setenv("JARVIS_JWKS_URL", "https://idp.example/jwks.json")
    env.setenv("JARVIS_JWT_AUDIENCE", "https://jarvis.example/mcp")
    env.setenv("JARVIS_JWT_ISSUER", "https://idp.example/")
    env.setenv("JARVIS_EMAIL_LINK_ISSUERS", " https://idp.example/ ,")
    assert load_settings().email_link_issuers == ["https://idp.example/"]
    env.setenv("JARVIS_EMAIL_LINK_ISSUERS", "https://idp.example")  # a missing slash is another issuer
    with pytest.raises(ConfigError, match="JARVIS_EMAIL_LINK_ISSUERS"):
        load_settings()


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    with pytest.raises(ValueError):
        s.user = "mallory"  # type: ignore[misc]


# --- the command refuses to start -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_vars", "named"),
    [
        ({"JARVIS_FOO": "1"}, "JARVIS_FOO"),
        ({"JARVIS_STORE": "mongo"}, "JARVIS_STORE"),
        ({"JARVIS_LOG_LEVEL": "LOUD"}, "JARVIS_LOG_LEVEL"),
        ({"JARVIS_JWKS_URL": "ftp://x"}, "JARVIS_JWKS_URL"),
        ({"JARVIS_CONFIG": "/nonexistent/jarvis.toml"}, "JARVIS_CONFIG"),
        ({"JARVIS_JWT_SECRET": "short"}, "JARVIS_JWT_SECRET"),
        ({"JARVIS_JWKS_URL": "https://idp.example/jwks.json", "JARVIS_JWT_AUDIENCE": "https://j.example/mcp"},
         "JARVIS_JWT_ISSUER"),
    ],
)
@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_serve_refuses_bad_configuration(
    tmp_path: Path, env_vars: dict[str, str], named: str, transport: str
) -> None:
    started = time.monotonic()
    # stdin is closed: a server that wrongly started over stdio would end at once instead of hanging
    done = run_cli(["serve", "--transport", transport, "--port", "1"], home=tmp_path / "home", env=env_vars,
                   stdin="", timeout=QUICK_S * 2)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < QUICK_S
    assert not (tmp_path / "home").exists()


def test_toml_reaches_the_command_and_env_overrides_it(tmp_path: Path) -> None:
    toml = tmp_path / "jarvis.toml"
    toml.write_text(f'user = "carol"\nhome = "{(tmp_path / "from-toml").as_posix()}"\n')
    done = run_cli(["doctor"], home=None, env={"JARVIS_CONFIG": str(toml)})
    assert done.returncode == 0, done.stderr
    assert "user:      carol" in done.stdout
    assert str(tmp_path / "from-toml") in done.stdout
    done = run_cli(["doctor"], home=tmp_path / "env-home", env={"JARVIS_CONFIG": str(toml), "JARVIS_USER": "dave"})
    assert done.returncode == 0, done.stderr
    assert "user:      dave" in done.stdout
    assert str(tmp_path / "env-home") in done.stdout


def test_serve_refuses_malformed_toml(tmp_path: Path) -> None:
    toml = tmp_path / "jarvis.toml"
    toml.write_text("user = carol without quotes\n")
    done = run_cli(["serve"], home=tmp_path / "home", env={"JARVIS_CONFIG": str(toml)}, stdin="", timeout=QUICK_S * 2)
    assert done.returncode == 2, done.stderr
    assert "JARVIS_CONFIG" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
