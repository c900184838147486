"""Settings from JARVIS_* environment variables and an optional TOML file (JARVIS_CONFIG).

Validated once at start-up: an unknown setting, an unknown backend name or a malformed value stops the
server with a message naming the setting, instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class ConfigError(Exception):
    """Bad configuration; the message names the setting and the rule."""


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("jarvis-mcp", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JARVIS_", extra="forbid", frozen=True)

    home: Path = Field(default_factory=_default_home, description="Data folder (database, documents).")
    user: str = Field("local", min_length=1, max_length=128, description="The stdio / unauthenticated user.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    config: Path | None = Field(None, description="TOML file with these settings (lower-case keys).")

    store: Literal["sqlite", "postgres"] = "sqlite"
    # Postgres / Supabase: the URL of the app role (not the tables' owner; see `jarvis-mcp migrate`).
    database_url: SecretStr | None = None
    database_pool_size: int = Field(10, ge=1, le=200, description="Connections per server process.")
    # auto: SQLite's own index; on Postgres pgvector where the database has it, else numpy.
    vector_index: Literal["auto", "numpy", "pgvector"] = "auto"
    embedder: Literal["onnx"] = "onnx"

    # HTTP bearer tokens. With neither secret nor JWKS set, HTTP serves the local user on loopback only.
    jwt_secret: SecretStr | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_auth_method_claim: str = "auth_method"
    public_url: str | None = Field(None, description="This server's public /mcp URL (token audience).")

    vector_cache_mb: int = Field(2048, ge=16, description="Budget for in-memory per-user vector matrices.")
    near_duplicate_threshold: float = Field(0.92, gt=0, le=1)

    # Contacts: phones without a country code are read in the user's region (profile locale, e.g. es-ES),
    # else in this one. Provider credentials are encrypted with JARVIS_SECRET_KEY, else with a key file
    # generated in JARVIS_HOME.
    phone_region: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166 region, e.g. ES.")
    secret_key: SecretStr | None = Field(None, description="Server key for credentials at rest (>= 32 chars).")

    # Documents: the original bytes go to a DocumentStore; text, chunks and vectors to the store above.
    document_store: Literal["local", "supabase"] = "local"
    supabase_url: str | None = Field(None, description="https://<project>.supabase.co")
    supabase_key: SecretStr | None = Field(None, description="Service-role key (server side only).")
    supabase_bucket: str = Field("jarvis-documents", pattern=r"^[a-z0-9][a-z0-9._-]{2,62}$")
    supabase_signed_url_seconds: int = Field(60, ge=10, le=3600, description="Download link lifetime.")
    max_document_bytes: int = Field(20 << 20, ge=1024, description="Largest single document.")
    max_user_document_bytes: int = Field(1 << 30, ge=1024, description="All of one user's documents.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("phone_region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        return v.upper() if v else None

    @field_validator("secret_key")
    @classmethod
    def _long_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -base64 48`)")
        return v

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        # RFC 7518 §3.2: an HS256 key shorter than the hash can be guessed offline from any one token.
        if v is not None and len(v.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes; generate one with: python -c "
                             "\"import secrets; print(secrets.token_urlsafe(32))\"")
        return v

    @field_validator("jwks_url", "public_url", "supabase_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return v

    @model_validator(mode="after")
    def _audience_with_jwks(self) -> Settings:
        # A shared identity provider issues tokens for many services; without an audience check any of
        # them would be accepted here.
        if self.jwks_url and not (self.jwt_audience or self.public_url):
            raise ValueError("JARVIS_JWKS_URL needs JARVIS_JWT_AUDIENCE (or JARVIS_PUBLIC_URL) to check the token audience")
        return self

    @model_validator(mode="after")
    def _postgres_complete(self) -> Settings:
        if self.store == "postgres" and not self.database_url:
            raise ValueError("JARVIS_STORE=postgres needs JARVIS_DATABASE_URL (postgresql://app_role@host/db)")
        if self.vector_index == "pgvector" and self.store != "postgres":
            raise ValueError("JARVIS_VECTOR_INDEX=pgvector needs JARVIS_STORE=postgres")
        return self

    @model_validator(mode="after")
    def _document_store_complete(self) -> Settings:
        if self.document_store == "supabase":
            missing = [name for name, value in (("JARVIS_SUPABASE_URL", self.supabase_url),
                                                ("JARVIS_SUPABASE_KEY", self.supabase_key)) if not value]
            if missing:
                raise ValueError(f"JARVIS_DOCUMENT_STORE=supabase needs {' and '.join(missing)}")
        if self.max_user_document_bytes < self.max_document_bytes:
            raise ValueError("JARVIS_MAX_USER_DOCUMENT_BYTES must be at least JARVIS_MAX_DOCUMENT_BYTES")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("JARVIS_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def auth_enabled(self) -> bool:
        return self.jwt_secret is not None or self.jwks_url is not None

    @property
    def database_path(self) -> Path:
        return self.home / "jarvis.db"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (+ overrides), or ConfigError naming each bad setting."""
    toml_path = os.environ.get("JARVIS_CONFIG")
    if toml_path and not Path(toml_path).is_file():
        raise ConfigError(f"JARVIS_CONFIG: no such file: {toml_path}")
    known = {"JARVIS_" + name.upper() for name in Settings.model_fields}
    unknown = sorted(k for k in os.environ if k.startswith("JARVIS_") and k not in known)
    if unknown:
        raise ConfigError("invalid configuration: " + "; ".join(f"{k}: unknown setting" for k in unknown))
    try:
        return Settings(**overrides)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"JARVIS_CONFIG: cannot read {toml_path} as TOML: {exc}") from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "JARVIS_" + "_".join(str(p) for p in err["loc"]).upper() if err["loc"] else "settings"
            if err["type"] == "extra_forbidden":
                problems.append(f"{name}: unknown setting")
            else:
                problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
