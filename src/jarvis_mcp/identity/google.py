"""Sign in with Google, and connect a person's Google account: OpenID Connect, authorization code + PKCE.

The browser goes to Google with a fresh state, nonce and PKCE challenge; Google sends it back with a code,
which the server exchanges at the token endpoint for an id_token (and, when connecting, a refresh token).
The id_token is trusted only after its RS256 signature checks against the issuer's published keys and its
issuer, audience (our client id), nonce and expiry are ours and current. Endpoints come from the issuer's
discovery document, so a test points the whole flow at a local fake issuer by changing the issuer URL.

Connecting asks, in one consent, for what the Contacts, Calendar and Gmail adapters need; Google's
include_granted_scopes makes the grant incremental. What is stored has the shape google-auth's
Credentials.from_authorized_user_info reads (the shape `jarvis-mcp connect google` always stored), with
the scopes the person actually granted (Google lets them untick some), so each adapter can say which
one is missing.

No settings are read here: the routes and the CLI pass the client, the issuer and the HTTP transport.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt

from jarvis_mcp.identity.proofs import ProofError, ProvenIdentity

GOOGLE_ISSUER = "https://accounts.google.com"
# Google's id_tokens name their issuer with or without the scheme; both are Google.
_ISSUER_ALIASES = {GOOGLE_ISSUER: frozenset({GOOGLE_ISSUER, "accounts.google.com"})}
SIGN_IN_SCOPES = ("openid", "email", "profile")
# What the adapters check for (adapters/google_people.py, google_calendar.py, mail_gmail.py); compose is
# for drafts (issue "inbox"), asked now so a later feature needs no second consent.
CONNECT_SCOPES = (
    "https://www.googleapis.com/auth/contacts.readonly",
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.freebusy",
    "https://www.googleapis.com/auth/gmail.send",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.compose",
)
ALGORITHMS = ("RS256",)  # what Google signs with; "none" and HMAC algorithms are never accepted
LEEWAY_S = 60
_KEYS_TTL_S = 3600.0
_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class PendingAuth:
    """Kept by the server (in the store, under `state`) while the browser is at Google; single use."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    scopes: tuple[str, ...]
    connect: bool = False
    # SHA-256 of something only the starting browser holds (its CSRF cookie): a callback URL an attacker
    # got for their own Google account, opened in someone else's browser, must not sign that browser in.
    binding: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PendingAuth:
        data = json.loads(text)
        return cls(**{**data, "scopes": tuple(data["scopes"])})


@dataclass(frozen=True)
class GoogleResult:
    identity: ProvenIdentity
    granted_scopes: tuple[str, ...]
    # The authorized-user info to store encrypted for the user (connect only; it holds the refresh token).
    credentials: dict[str, object] | None = None

    @property
    def missing_scopes(self) -> tuple[str, ...]:
        """Connecting: the scopes the person unticked on Google's consent screen (that feature stays off)."""
        if self.credentials is None:
            return ()
        return tuple(s for s in CONNECT_SCOPES if s not in self.granted_scopes)


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636): base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _bind(secret: str) -> str:
    return hashlib.sha256(f"jarvis-google-binding\x1f{secret}".encode()).hexdigest() if secret else ""


def new_pending(redirect_uri: str, *, connect: bool = False, binding: str = "") -> PendingAuth:
    scopes = SIGN_IN_SCOPES + CONNECT_SCOPES if connect else SIGN_IN_SCOPES
    return PendingAuth(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                       code_verifier=secrets.token_urlsafe(64), redirect_uri=redirect_uri, scopes=scopes,
                       connect=connect, binding=_bind(binding))


def authorization_url(endpoint: str, pending: PendingAuth, *, client_id: str, login_hint: str | None = None) -> str:
    """Where to send the browser. Connecting adds offline access (a refresh token), a consent prompt (Google
    returns a refresh token only on consent) and incremental scopes."""
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": pending.redirect_uri,
        "scope": " ".join(pending.scopes), "state": pending.state, "nonce": pending.nonce,
        "code_challenge": code_challenge(pending.code_verifier), "code_challenge_method": "S256",
    }
    if pending.connect:
        params.update(access_type="offline", prompt="consent", include_granted_scopes="true")
    else:
        params["prompt"] = "select_account"
    if login_hint:
        params["login_hint"] = login_hint
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


def verify_id_token(id_token: str, key: Any, *, issuers: frozenset[str], client_id: str, nonce: str,
                    now: float, leeway_s: int = LEEWAY_S) -> dict[str, Any]:
    """The id_token's claims once signature, issuer, audience, authorized party, nonce and times check."""
    try:
        claims = jwt.decode(id_token, key, algorithms=list(ALGORITHMS), audience=client_id,
                            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_exp": False,
                                     "verify_iat": False, "verify_nbf": False, "verify_iss": False})
    except jwt.InvalidAudienceError:
        raise ProofError("Google's answer was meant for another application; sign in with Google again") from None
    except jwt.PyJWTError:
        raise ProofError("Google's answer failed its signature check; sign in with Google again") from None
    if claims["iss"] not in issuers:
        raise ProofError("Google's answer came from another issuer; sign in with Google again")
    aud = claims["aud"]
    azp = claims.get("azp")
    if (isinstance(aud, list) and len(aud) > 1 and azp is None) or (azp is not None and azp != client_id):
        raise ProofError("Google's answer was meant for another application; sign in with Google again")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise ProofError("Google's answer does not belong to this sign-in; sign in with Google again")
    if float(claims["exp"]) + leeway_s <= now or float(claims["iat"]) - leeway_s > now:
        raise ProofError("Google's answer has expired; sign in with Google again")
    return claims


def identity_from_claims(claims: Mapping[str, Any], issuer: str) -> ProvenIdentity:
    """email only when Google vouches for it: an unverified address must never join someone's account."""
    verified = claims.get("email_verified") in (True, "true")
    email = str(claims["email"]).strip().lower() if verified and claims.get("email") else None
    return ProvenIdentity(issuer=issuer, subject=str(claims["sub"]), auth_method="google", email=email,
                          display_name=claims.get("name") or email)


def authorized_user_info(tokens: Mapping[str, Any], *, client_id: str, client_secret: str, token_uri: str,
                         granted: tuple[str, ...]) -> dict[str, object]:
    """What is stored for the user: no access token, the refresh token and the client it belongs to."""
    refresh = tokens.get("refresh_token")
    if not refresh:
        raise ProofError("Google returned no refresh token; remove JARVIS's access in your Google account "
                         "(myaccount.google.com/permissions) and connect again")
    return {"refresh_token": refresh, "token_uri": token_uri, "client_id": client_id, "client_secret": client_secret,
            "scopes": list(granted), "universe_domain": "googleapis.com", "account": ""}


class GoogleOidc:
    """One OAuth client at one OpenID issuer; discovery and keys cached, HTTP through `transport` if given."""

    def __init__(self, *, client_id: str, client_secret: str, issuer: str = GOOGLE_ISSUER,
                 transport: httpx2.AsyncBaseTransport | None = None, clock: Callable[[], float] = time.time) -> None:
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are both needed for Google sign-in")
        self.client_id = client_id
        self.client_secret = client_secret
        self.issuer = issuer.rstrip("/")
        self.issuers = _ISSUER_ALIASES.get(self.issuer, frozenset({self.issuer}))
        self._transport = transport
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_at = float("-inf")

    async def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        # A client per call: the CLI runs each step in its own event loop, and sign-ins are rare.
        try:
            async with httpx2.AsyncClient(transport=self._transport, timeout=_TIMEOUT_S) as http:
                resp = await http.request(method, url, headers={"Accept": "application/json"}, **kwargs)
        except httpx2.HTTPError:
            raise ProofError("could not reach Google; try again in a moment") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProofError(f"Google answered {resp.status_code} without JSON; try again in a moment")
        if resp.status_code >= 400:
            # error is a short OAuth code (invalid_grant, invalid_client); error_description is Google's text.
            code = str(body.get("error", resp.status_code))[:60]
            raise ProofError(f"Google refused the sign-in ({code}); sign in with Google again")
        return body

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            doc = await self._request("GET", f"{self.issuer}/.well-known/openid-configuration")
            # OpenID Discovery 4.3: the document must name the issuer we asked, or it is someone else's.
            if doc.get("issuer", "").rstrip("/") != self.issuer:
                raise ProofError("Google's discovery document names another issuer; sign-in is misconfigured")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not str(doc.get(name, "")).startswith(("https://", self.issuer)):
                    raise ProofError(f"Google's discovery document has no usable {name}")
            self._metadata = doc
        return self._metadata

    async def start(self, redirect_uri: str, *, connect: bool = False, login_hint: str | None = None,
                    binding: str = "") -> tuple[str, PendingAuth]:
        """(URL to send the browser to, what to keep until it returns). binding: a secret of this browser
        (its CSRF cookie), asked for again by finish()."""
        pending = new_pending(redirect_uri, connect=connect, binding=binding)
        endpoint = (await self.metadata())["authorization_endpoint"]
        return authorization_url(endpoint, pending, client_id=self.client_id, login_hint=login_hint), pending

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        for attempt in range(2):
            # Refetched when stale or when the token names a key we have not seen: Google rotates keys.
            if attempt or self._clock() - self._keys_at > _KEYS_TTL_S:
                jwks = await self._request("GET", (await self.metadata())["jwks_uri"])
                try:
                    keyset = jwt.PyJWKSet.from_dict(jwks)
                except jwt.PyJWTError:
                    raise ProofError("Google's signing keys could not be read; try again in a moment") from None
                self._keys = {k.key_id or "": k for k in keyset.keys}
                self._keys_at = self._clock()
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            if kid in self._keys:
                return self._keys[kid]
        raise ProofError("Google's answer is signed with an unknown key; sign in with Google again")

    async def finish(self, pending: PendingAuth, query: Mapping[str, str], *, binding: str = "") -> GoogleResult:
        """Check the browser's return (query: the callback's parameters; binding: the same browser secret
        start() was given), exchange the code, verify the id_token."""
        if not hmac.compare_digest(query.get("state", ""), pending.state) or not hmac.compare_digest(
                _bind(binding), pending.binding):
            raise ProofError("this Google sign-in does not belong to this browser session; start again")
        if query.get("error"):
            why = "was cancelled" if query["error"] == "access_denied" else "failed"
            raise ProofError(f"the Google sign-in {why}; start again when you are ready")
        # RFC 9207: a response naming another issuer was produced by another authorization server (mix-up).
        if "iss" in query and query["iss"].rstrip("/") not in self.issuers:
            raise ProofError("this answer came from another sign-in provider; start again")
        code = query.get("code", "")
        if not code:
            raise ProofError("Google sent no sign-in code back; start again")
        meta = await self.metadata()
        tokens = await self._request("POST", meta["token_endpoint"], data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri,
            "client_id": self.client_id, "client_secret": self.client_secret, "code_verifier": pending.code_verifier,
        })
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise ProofError("Google returned no id_token; sign in with Google again")
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
        except jwt.PyJWTError:
            raise ProofError("Google's answer failed its signature check; sign in with Google again") from None
        claims = verify_id_token(id_token, await self._key(kid), issuers=self.issuers, client_id=self.client_id,
                                 nonce=pending.nonce, now=self._clock())
        granted = tuple(str(tokens["scope"]).split()) if tokens.get("scope") else pending.scopes
        credentials = None
        if pending.connect:
            credentials = authorized_user_info(tokens, client_id=self.client_id, client_secret=self.client_secret,
                                               token_uri=meta["token_endpoint"], granted=granted)
        return GoogleResult(identity=identity_from_claims(claims, self.issuer), granted_scopes=granted,
                            credentials=credentials)


__all__ = ["CONNECT_SCOPES", "GOOGLE_ISSUER", "SIGN_IN_SCOPES", "GoogleOidc", "GoogleResult", "PendingAuth",
           "authorization_url", "authorized_user_info", "code_challenge", "identity_from_claims", "new_pending",
           "verify_id_token"]
