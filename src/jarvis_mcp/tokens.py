"""Bearer JWT verification (HS256 shared secret and/or RS256/ES256 via JWKS) and dev-token issuing."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio.to_thread
import jwt
from mcp.server.auth.provider import AccessToken, TokenVerifier

from jarvis_mcp.config import Settings

logger = logging.getLogger(__name__)

_HMAC_ALGS = ("HS256",)
_JWKS_ALGS = ("RS256", "ES256")
_LEEWAY_S = 30
_AUTH_METHOD_RE = re.compile(r"[a-z0-9_-]{1,32}")
_TTL_RE = re.compile(r"(\d+)([smhd]?)")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_TTL_S = 30 * 86400
_OUTAGE_REMINDER_S = 300.0  # while the key set stays unreachable, the warning is repeated this often


@dataclass(frozen=True)
class TokenIdentity:
    issuer: str
    subject: str
    auth_method: str
    email: str | None


#: Which key verified a token: this server's own HS256 secret, or the identity provider's JWKS.
Verifier = Literal["local", "jwks"]

#: The issuer of the identities our own secret's tokens sign in, and of the stdio user.
LOCAL_ISSUER = "local"


class VerifiedAccessToken(AccessToken):
    """An AccessToken that says which key verified it. A field, not a claim: nothing inside the token can
    set it, so a provider's token can never pass for one of ours, whatever its `iss` says (or omits)."""

    verified_by: Verifier
    issuer: str


class SignedInToken(AccessToken):
    """An access token issued by this server's own authorization server (identity/): opaque, looked up in
    the store by its hash, and its subject is already our user id (no identity mapping needed)."""

    user_id: str


#: The audience of tokens signed with this server's own secret when no audience is configured: without one,
#: a token minted with the same secret for some other service would be accepted here.
DEFAULT_AUDIENCE = "jarvis-mcp"


def _expected_audience(settings: Settings) -> str:
    # JWKS without an explicit audience is refused by config validation, so the default only ever
    # applies to tokens from our own HS256 secret.
    return settings.jwt_audience or settings.public_url or DEFAULT_AUDIENCE


class JwksUnavailable(Exception):
    """The identity provider's key set could not be had (unreachable, timeout, an HTTP error, not a key set):
    the server's problem, not the token's."""


class _KeySet(jwt.PyJWKClient):
    """PyJWKClient that tells an outage of the key set from a token naming no key in it, and says so in the
    log: at WARNING with the cause when the outage starts, again every few minutes while it lasts, and
    when it ends. The token is never logged; every request meanwhile is still answered 401."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        parts = urlsplit(url)
        self._where = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        self._state = threading.Lock()
        self._down_since: float | None = None
        self._warned_at = 0.0
        self._refused = 0

    def get_signing_keys(self, refresh: bool = False) -> list[jwt.PyJWK]:
        # Every way of getting the set goes through here (the first fetch, expiry, the refresh on an
        # unknown kid); a kid missing from a set that was had is the token's problem and raised after.
        try:
            keys = super().get_signing_keys(refresh)
        except Exception as exc:
            self._failed(exc)
            raise JwksUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self._recovered()
        return keys

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._state:
            self._refused += 1
            first = self._down_since is None
            if first:
                self._down_since = now
            elif now - self._warned_at < _OUTAGE_REMINDER_S:
                return
            self._warned_at = now
            down_for, refused = now - (self._down_since or now), self._refused
        if first:
            logger.warning("JWKS at %s is unavailable (%s: %s); bearer tokens it signs are refused until it is back",
                           self._where, type(exc).__name__, exc)
        else:
            logger.warning("JWKS at %s still unavailable after %.0f s, %d fetches failed (%s: %s)",
                           self._where, down_for, refused, type(exc).__name__, exc)

    def _recovered(self) -> None:
        if self._down_since is None:  # the common case, without taking the lock
            return
        with self._state:
            if self._down_since is None:
                return
            down_for, refused = time.monotonic() - self._down_since, self._refused
            self._down_since, self._refused = None, 0
        logger.warning("JWKS at %s is available again after %.0f s (%d fetches failed)", self._where, down_for,
                       refused)


class JwtVerifier(TokenVerifier):
    def __init__(self, settings: Settings):
        self._settings = settings
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._audience = _expected_audience(settings)
        if settings.jwks_url and not settings.jwt_issuer:
            # Config validation refuses this too; the verifier must not depend on it to keep issuers apart.
            raise ValueError("JARVIS_JWKS_URL needs JARVIS_JWT_ISSUER")
        # Cache the key *set* (refetched every 5 min, and on an unknown kid at most every 30 s) rather
        # than individual keys: PyJWKClient's per-kid LRU would keep trusting a key the IdP has revoked.
        self._jwks = (
            _KeySet(settings.jwks_url, cache_jwk_set=True, lifespan=300, timeout=10) if settings.jwks_url else None
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            claims, verified_by = await self._decode(token)
            issuer = _identity_issuer(verified_by, claims, self._settings)
        except JwksUnavailable:
            return None  # logged by _KeySet, at WARNING: the operator's problem, not the caller's
        except Exception as exc:  # any failure means "not authenticated", never a 500
            logger.debug("bearer token rejected: %s: %s", type(exc).__name__, exc)
            return None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            logger.debug("bearer token rejected: missing or empty sub")
            return None
        client_id = next(
            (v for v in (claims.get("azp"), claims.get("client_id")) if isinstance(v, str) and v), sub
        )
        return VerifiedAccessToken(
            token=token,
            client_id=client_id,
            scopes=_scopes(claims),
            expires_at=int(claims["exp"]),
            resource=self._audience,
            subject=sub,
            # The SDK binds a session to (client_id, claims["iss"], sub): give it the issuer we derived, so a
            # provider's token cannot share the session of a local token with the same claims either.
            claims={**claims, "iss": issuer},
            verified_by=verified_by,
            issuer=issuer,
        )

    async def _decode(self, token: str) -> tuple[dict[str, Any], Verifier]:
        alg = jwt.get_unverified_header(token).get("alg")
        key: Any
        verified_by: Verifier
        # The header only picks the key; `algorithms=[alg]` then pins the verifier to that one family, so
        # an RSA public key can never be used as an HMAC secret and "none" never verifies.
        if alg in _HMAC_ALGS and self._secret is not None:
            key, verified_by = self._secret, "local"
        elif alg in _JWKS_ALGS and self._jwks is not None:
            # PyJWK binds its own algorithm, so an ES256 header cannot select an RSA key (or vice versa).
            key = await anyio.to_thread.run_sync(self._jwks.get_signing_key_from_jwt, token)
            verified_by = "jwks"
        else:
            raise jwt.InvalidAlgorithmError(f"algorithm {alg!r} not accepted")
        required = ["exp", "sub"] + (["iss"] if self._settings.jwt_issuer else [])
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=self._audience,
            issuer=self._settings.jwt_issuer,
            leeway=_LEEWAY_S,
            options={"require": required, "verify_aud": True},
        )
        return claims, verified_by


def _scopes(claims: dict[str, Any]) -> list[str]:
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [s for s in raw if isinstance(s, str) and s]
    return []


def _identity_issuer(verified_by: Verifier, claims: dict[str, Any], settings: Settings) -> str:
    """The issuer of the identity a verified token signs in: decided by the key that verified it."""
    if verified_by == "jwks":
        # decode() has checked the token's `iss` equals it; without one configured there is no issuer.
        if not settings.jwt_issuer:
            raise ValueError("JARVIS_JWKS_URL needs JARVIS_JWT_ISSUER")
        return settings.jwt_issuer
    if settings.jwks_url:
        # Next to a provider, our own tokens are their own issuer: `iss` would name the provider's
        # (decode() requires it), and an HS256 "alice" must never be the provider's "alice".
        return LOCAL_ISSUER
    # Secret only, as before this rule: identities were stored under the token's `iss` (which equals
    # JARVIS_JWT_ISSUER when that is set), else "local". Keeping it keeps existing installs' users; only
    # the secret's holder can sign such a token, and no provider's identities share these names.
    iss = claims.get("iss")
    return iss if isinstance(iss, str) and iss else LOCAL_ISSUER


def identity_from_access_token(token: AccessToken, settings: Settings) -> TokenIdentity:
    if not isinstance(token, VerifiedAccessToken):
        # An AccessToken from anywhere else cannot say which key verified it, so it proves no issuer.
        raise ValueError("access token was not verified by JwtVerifier")
    claims = token.claims or {}
    issuer = token.issuer
    method = claims.get(settings.jwt_auth_method_claim)
    method = method.lower() if isinstance(method, str) else ""
    auth_method = method if _AUTH_METHOD_RE.fullmatch(method) else "unknown"
    email = claims.get("email")
    # An email links this identity to whoever already has it, so it must be proven twice: the token says
    # it is verified, and its issuer is one we trust to have checked (our own secret's tokens, and the
    # provider only if JARVIS_EMAIL_LINK_ISSUERS names it: some let users type any unverified address).
    trusted = claims.get("email_verified") is True and (
        token.verified_by == "local" or issuer in settings.email_link_issuers
    )
    subject = token.subject
    if not subject:
        raise ValueError("access token has no subject")
    return TokenIdentity(issuer, subject, auth_method, email if trusted and isinstance(email, str) else None)


def issue_token(
    settings: Settings,
    *,
    subject: str,
    auth_method: str = "local",
    ttl_seconds: int = 3600,
    email: str | None = None,
    scopes: list[str] | None = None,
) -> str:
    if settings.jwt_secret is None:
        raise ValueError("cannot issue tokens: JARVIS_JWT_SECRET is not set")
    if not subject:
        raise ValueError("subject must be non-empty")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
        settings.jwt_auth_method_claim: auth_method,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if audience := _expected_audience(settings):
        claims["aud"] = audience
    if email is not None:
        claims["email"] = email
        claims["email_verified"] = True
    if scopes:
        claims["scope"] = " ".join(scopes)
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def parse_ttl(text: str) -> int:
    """Seconds from "90s", "15m", "1h", "7d" or a plain number of seconds (1 s to 30 days)."""
    m = _TTL_RE.fullmatch(text.strip().lower())
    if not m:
        raise ValueError(f"invalid TTL {text!r}: use e.g. 90s, 15m, 1h, 7d or a number of seconds")
    seconds = int(m.group(1)) * _TTL_UNITS[m.group(2)]
    if not 0 < seconds <= _MAX_TTL_S:
        raise ValueError(f"invalid TTL {text!r}: must be between 1 second and 30 days")
    return seconds
