"""Settings from JARVIS_* environment variables and an optional TOML file (JARVIS_CONFIG).

Validated once at start-up: an unknown setting, an unknown backend name or a malformed value stops the
server with a message naming the setting, instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
import tomllib
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from jarvis_mcp.tiers import ClassLimits, TierLimits, _default_tiers

__all__ = ["ClassLimits", "ConfigError", "Settings", "TierLimits", "load_settings"]


class ConfigError(Exception):
    """Bad configuration; the message names the setting and the rule."""


class ServiceUnreachable(ConfigError):
    """A configured service (database, Redis) did not answer at start. The settings may be right and a
    later start succeed, so the command exits with its own status (3), not the configuration's (2)."""


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("jarvis-mcp", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JARVIS_", extra="forbid", frozen=True)

    home: Path = Field(default_factory=_default_home, description="Data folder (database, documents).")
    user: str = Field("local", min_length=1, max_length=128, description="The stdio / unauthenticated user.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    config: Path | None = Field(None, description="TOML file with these settings (lower-case keys).")
    shutdown_grace_seconds: float = Field(20, ge=0, le=600, description="On SIGTERM, how long calls in flight "
                                          "may take to answer before the HTTP server exits.")

    store: Literal["sqlite", "postgres"] = "sqlite"
    # Postgres / Supabase: the URL of the app role (not the tables' owner; see `jarvis-mcp migrate`).
    database_url: SecretStr | None = None
    database_pool_size: int = Field(10, ge=1, le=200, description="Connections per server process.")
    # auto: SQLite's own index; on Postgres pgvector where the database has it, else numpy.
    vector_index: Literal["auto", "numpy", "pgvector", "pinecone"] = "auto"
    embedder: Literal["use", "minilm", "onnx", "openai"] = "use"  # onnx: minilm's old name; see tools/README.md

    # HTTP bearer tokens. With neither secret nor JWKS set, HTTP serves the local user on loopback only.
    jwt_secret: SecretStr | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_auth_method_claim: str = "auth_method"
    # Whose email_verified may join a sign-in to the user with that email (our own secret's tokens always).
    # NoDecode: the environment gives "a,b" as it is (a list setting would otherwise have to be JSON).
    email_link_issuers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    public_url: str | None = Field(None, description="This server's public /mcp URL (token audience).")
    # Sign-in methods: `serve --transport http` is then also the OAuth 2.1 server at JARVIS_PUBLIC_URL's origin.
    sign_in: Annotated[list[Literal["email", "google", "wallet", "telegram"]], NoDecode] = Field(default_factory=list)
    oauth_allow_loopback_client_metadata: bool = Field(
        False, description="Development only: Client ID Metadata Documents may be fetched from loopback over http.")
    google_client_id: str | None = Field(None, description="Google OAuth client (sign-in with Google).")
    google_client_secret: SecretStr | None = None
    google_issuer: str = Field("https://accounts.google.com", description="Google's OIDC issuer (tests: a fake).")
    telegram_bot_token: SecretStr | None = None
    telegram_bot_name: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{3,64}$", description="The Login Widget's bot.")
    siwe_chain_id: int = Field(1, ge=1, description="The chain a Sign-In with Ethereum message must name.")

    embedder_threads: int | None = Field(
        None, ge=1, le=16,
        description="Threads per local embedding; unset: all cores (up to 4) for stdio, 1 for HTTP, where "
                    "concurrent requests use the cores better than one request's threads do.",
    )
    vector_cache_mb: int = Field(2048, ge=16, description="Budget for in-memory per-user vector matrices.")
    near_duplicate_threshold: float = Field(0.92, gt=0, le=1)

    # Contacts: phones without a country code are read in the user's region (profile locale, e.g. es-ES),
    # else in this one. Provider credentials are encrypted with JARVIS_SECRET_KEY, else with a key file
    # generated in JARVIS_HOME.
    always_confirm: list[Literal["send_email", "schedule_event", "cancel_event", "call_contact", "forget_memories"]] = Field(
        default_factory=list,
        description="Kinds of action that always need confirmation, on top of the built-in sensitive cases.",
    )
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

    # OpenAI embeddings (JARVIS_EMBEDDER=openai). The model id the store records carries the dimension.
    openai_api_key: SecretStr | None = None
    openai_model: str = Field("text-embedding-3-small", min_length=1)
    openai_dimensions: int | None = Field(None, ge=1, le=3072, description="Shorter vectors (text-embedding-3).")
    openai_base_url: str | None = Field(None, description="Another OpenAI-compatible endpoint.")
    # analyze_sentiment: the local lexicon (nothing leaves the machine), or OpenAI chat in JSON mode.
    sentiment: Literal["local", "openai"] = "local"
    openai_sentiment_model: str = Field("gpt-4o-mini", min_length=1, description="Chat model for sentiment.")
    # Pinecone (JARVIS_VECTOR_INDEX=pinecone): one dense cosine index, a namespace per user.
    pinecone_api_key: SecretStr | None = None
    pinecone_index: str | None = Field(None, description="Index name (its host is looked up once).")
    pinecone_host: str | None = Field(None, description="The index's data-plane host; no lookup needed.")
    # Redis: cache and limits shared by every server process. Without it both are per process.
    redis_url: SecretStr | None = Field(None, description="redis://[:password@]host:port/db")
    redis_prefix: str = Field("jarvis", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Key prefix in Redis.")
    cache_mb: int = Field(256, ge=0, description="In-process cache budget without Redis; 0 turns caching off.")
    search_cache_seconds: int = Field(300, ge=0, description="How long a search result is reused; 0: never.")
    embedding_cache_seconds: int = Field(86_400, ge=0, description="How long a query's vector is reused.")
    # Usage limits, enforced on every tool call. A user's tier comes from the user_limits table, else
    # this default: "free" when sign-in is on, "unlimited" for the local user of a personal install.
    tiers: dict[str, TierLimits] = Field(default_factory=_default_tiers)
    default_tier: str | None = None
    # Mail (send_email). "outbox" keeps each message as an .eml file under JARVIS_HOME/outbox/<user> and says
    # it was not delivered; "smtp" and "gmail" really send (Gmail as the user: `jarvis-mcp connect google`).
    mailer: Literal["outbox", "smtp", "gmail"] = "outbox"
    smtp_host: str | None = None
    smtp_port: int | None = Field(None, ge=1, le=65535, description="Default: 587 starttls, 465 ssl, 25 none.")
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = Field(None, description="The From of sent mail, e.g. 'Ana <ana@example.com>'.")
    smtp_timeout_seconds: float = Field(30, gt=0, le=120)
    mail_allowlist: list[str] = Field(
        default_factory=list, description="When set, mail may go only to these addresses or @domains (JSON list).")
    mail_max_attachment_bytes: int = Field(10 << 20, ge=0, description="All attachments of one email together.")
    # Received mail (search_email, read_email, draft_email): "gmail" (the user's connected account), or a
    # local "maildir:PATH" / "mbox:PATH" (the local user's folder; PATH may hold {user}: one folder per user).
    inbox: str = Field("none", pattern=r"^(none|gmail|(maildir|mbox):.+)$",
                       description="none | gmail | maildir:PATH | mbox:PATH")

    # Calendar (schedule_event). "local" keeps events in the store (exported as jarvis://me/calendar.ics, no
    # invitations sent); "google" uses the user's Google Calendar (`jarvis-mcp connect google`).
    calendar: Literal["local", "google"] = "local"
    google_calendar_id: str = Field("primary", min_length=1, description="Which Google calendar to use.")
    calendar_send_updates: Literal["auto", "all", "externalOnly", "none"] = Field(
        "auto", description="Google's sendUpdates; auto: 'all' when an event has attendees, else 'none'.")

    # Calls (call_contact). "dry_run" records each call request and says it was not placed; "elevenlabs"
    # places it through the ElevenLabs phone number (Twilio or SIP trunk, read from the number itself).
    caller: Literal["dry_run", "elevenlabs"] = "dry_run"
    elevenlabs_api_key: SecretStr | None = None
    elevenlabs_phone_number_id: str | None = Field(None, min_length=1, description="The agent phone number's id.")
    elevenlabs_voice_id: str | None = Field(None, min_length=1, description="Voice of new per-contact agents.")
    elevenlabs_agent_id: str | None = Field(
        None, min_length=1, description="Agent for numbers that are not contacts (allow first message and "
                                        "language overrides in its security settings).")
    elevenlabs_webhook_secret: SecretStr | None = None  # signs POST /webhooks/elevenlabs (post-call outcomes)

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

    @field_validator("jwks_url", "public_url", "supabase_url", "google_issuer")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return v

    @field_validator("email_link_issuers", "sign_in", mode="before")
    @classmethod
    def _issuer_list(cls, v: object) -> object:
        v = v.split(",") if isinstance(v, str) else v
        return [i.strip() for i in v if isinstance(i, str) and i.strip()] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _audience_with_jwks(self) -> Settings:
        # A shared identity provider issues tokens for many services; without an audience check any of
        # them would be accepted here.
        if self.jwks_url and not (self.jwt_audience or self.public_url):
            raise ValueError("JARVIS_JWKS_URL needs JARVIS_JWT_AUDIENCE (or JARVIS_PUBLIC_URL) to check the token audience")
        # Without its issuer, a provider's `sub` and email would land on identities that are not its own.
        if self.jwks_url and not self.jwt_issuer:
            raise ValueError("JARVIS_JWKS_URL needs JARVIS_JWT_ISSUER (the provider's `iss`) so its users stay its own")
        if self.jwks_url and self.jwt_issuer == "local":
            raise ValueError("JARVIS_JWT_ISSUER: 'local' names this server's own tokens; use the provider's `iss`")
        # An issuer named but never accepted would be a silent no-op (a typo, a trailing slash).
        accepted = self.jwt_issuer if self.jwks_url else None
        for issuer in self.email_link_issuers:
            if issuer != accepted:
                raise ValueError(
                    f"JARVIS_EMAIL_LINK_ISSUERS: {issuer!r} is not the identity provider's issuer "
                    f"(JARVIS_JWT_ISSUER with JARVIS_JWKS_URL: {accepted!r}); tokens signed with "
                    "JARVIS_JWT_SECRET are always trusted")
        return self

    @model_validator(mode="after")
    def _postgres_complete(self) -> Settings:
        if self.store == "postgres" and not self.database_url:
            raise ValueError("JARVIS_STORE=postgres needs JARVIS_DATABASE_URL (postgresql://app_role@host/db)")
        if self.vector_index == "pgvector" and self.store != "postgres":
            raise ValueError("JARVIS_VECTOR_INDEX=pgvector needs JARVIS_STORE=postgres")
        return self

    @field_validator("tiers", mode="before")
    @classmethod
    def _merge_tiers(cls, v: object) -> object:
        # JARVIS_TIERS='{"free": {"write": {"daily": 50}}}' changes that one number: every tier, class and
        # period not named keeps its default (a new tier's unnamed numbers are unlimited).
        if not isinstance(v, dict):
            return v
        merged = {name: tier.model_dump() for name, tier in _default_tiers().items()}
        for name, tier in v.items():
            if not isinstance(tier, dict):
                merged[name] = tier.model_dump() if isinstance(tier, TierLimits) else tier
                continue
            base = merged.setdefault(name, {})
            for cls_name, numbers in tier.items():
                base[cls_name] = {**base.get(cls_name, {}), **numbers} if isinstance(numbers, dict) else numbers
        return merged

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return v

    @model_validator(mode="after")
    def _providers_complete(self) -> Settings:
        if self.embedder == "openai" and not self.openai_api_key:
            raise ValueError("JARVIS_EMBEDDER=openai needs JARVIS_OPENAI_API_KEY")
        if self.sentiment == "openai" and not self.openai_api_key:
            raise ValueError("JARVIS_SENTIMENT=openai needs JARVIS_OPENAI_API_KEY")
        if self.vector_index == "pinecone":
            if not self.pinecone_api_key:
                raise ValueError("JARVIS_VECTOR_INDEX=pinecone needs JARVIS_PINECONE_API_KEY")
            if not (self.pinecone_host or self.pinecone_index):
                raise ValueError("JARVIS_VECTOR_INDEX=pinecone needs JARVIS_PINECONE_HOST or JARVIS_PINECONE_INDEX")
        if self.effective_default_tier not in self.tiers:
            raise ValueError(f"JARVIS_DEFAULT_TIER: {self.effective_default_tier!r} is not one of the tiers "
                             f"({', '.join(sorted(self.tiers))}) in JARVIS_TIERS")
        return self

    @field_validator("smtp_from")
    @classmethod
    def _from_address(cls, v: str | None) -> str | None:
        if v is not None and not _plausible_address(parseaddr(v)[1]):
            raise ValueError("must be an email address, e.g. 'Ana <ana@example.com>'")
        return v

    @field_validator("mail_allowlist")
    @classmethod
    def _allowlist(cls, v: list[str]) -> list[str]:
        out = []
        for entry in v:
            entry = entry.strip().lower()
            if not (_plausible_address(entry) or (entry.startswith("@") and _plausible_address("x" + entry))):
                raise ValueError(f"{entry!r} is neither an address (ana@example.com) nor a domain (@example.com)")
            out.append(entry)
        return out

    @model_validator(mode="after")
    def _mailer_complete(self) -> Settings:
        if self.mailer == "smtp":
            missing = [n for n, v in (("JARVIS_SMTP_HOST", self.smtp_host), ("JARVIS_SMTP_FROM", self.smtp_from)) if not v]
            if missing:
                raise ValueError(f"JARVIS_MAILER=smtp needs {' and '.join(missing)}")
        if bool(self.smtp_user) != bool(self.smtp_password):
            raise ValueError("JARVIS_SMTP_USER and JARVIS_SMTP_PASSWORD go together")
        return self

    @model_validator(mode="after")
    def _caller_complete(self) -> Settings:
        if self.caller == "elevenlabs":
            missing = [n for n, v in (("JARVIS_ELEVENLABS_API_KEY", self.elevenlabs_api_key),
                                      ("JARVIS_ELEVENLABS_PHONE_NUMBER_ID", self.elevenlabs_phone_number_id)) if not v]
            if missing:
                raise ValueError(f"JARVIS_CALLER=elevenlabs needs {' and '.join(missing)}")
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
        return self.jwt_secret is not None or self.jwks_url is not None or bool(self.sign_in)

    @property
    def effective_default_tier(self) -> str:
        if self.default_tier:
            return self.default_tier
        return "free" if self.auth_enabled else "unlimited"

    @property
    def database_path(self) -> Path:
        return self.home / "jarvis.db"


def _plausible_address(addr: str) -> bool:
    local, at, domain = addr.rpartition("@")
    return bool(at and local and "." in domain.strip(".") and not any(c.isspace() or c in "<>,;\"" for c in addr))


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
