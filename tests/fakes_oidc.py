"""A fake OpenID Connect issuer that speaks the real protocol, for Google sign-in and Google connection tests.

It publishes a discovery document and a JWKS with its own RSA keys, "signs in" one person at its authorize
endpoint (auto-approving, as a browser at Google would after the person clicks through), and at its token
endpoint checks the client, the single-use code, the redirect URI and the PKCE verifier before returning
an RS256-signed id_token. Knobs let a test break exactly one thing: a claim, the signing key, the algorithm,
the scopes granted, the refresh token.

Use it in-process (`httpx2.ASGITransport(app=fake.app)`, issuer https://accounts.fake-google.test) or served
on 127.0.0.1 (`served_issuer()`), where a real browser or google-auth's own HTTP can reach it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "jarvis-test.apps.fake-googleusercontent.com"
CLIENT_SECRET = "fake-client-secret-XYZ"
ISSUER = "https://accounts.fake-google.test"


@dataclass
class FakeUser:
    sub: str = "110248495921238986420"
    email: str = "Ana.Garcia@Example.com"
    email_verified: bool = True
    name: str = "Ana García"


@dataclass
class _Grant:
    params: dict[str, str]
    user: FakeUser
    scopes: tuple[str, ...]
    issued_at: float = field(default_factory=time.time)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class FakeOidcIssuer:
    def __init__(self, issuer: str = ISSUER, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.unpublished: set[str] = set()  # kids kept out of the JWKS (a key the issuer never published)
        self.signing_kid = ""
        self.rotate()
        self.user = FakeUser()
        self.codes: dict[str, _Grant] = {}
        self.refresh_tokens: dict[str, tuple[str, ...]] = {}
        self.granted_before: set[str] = set()  # include_granted_scopes: what this person granted earlier
        # Knobs: claims to override on the next id_tokens (None deletes the claim), how they are signed,
        # scopes the person unticks on the consent screen, whether a refresh token is returned at all.
        self.claim_overrides: dict[str, Any] = {}
        self.sign_mode = "rs256"  # "rs256" | "none" | "hs256" | "foreign-key"
        self.unticked: set[str] = set()
        self.give_refresh_token = True
        self.jwks_fetches = 0
        self.token_requests: list[dict[str, str]] = []
        self.app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self._discovery),
            Route("/oauth2/v3/certs", self._jwks),
            Route("/o/oauth2/v2/auth", self._authorize),
            Route("/token", self._token, methods=["POST"]),
        ])

    # -- keys -------------------------------------------------------------------------------------

    def rotate(self, *, retire_old: bool = False) -> str:
        """A new signing key (published in the JWKS from now on); the old ones stay published unless retired."""
        kid = secrets.token_hex(8)
        if retire_old:
            self.keys.clear()
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_kid = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            if kid in self.unpublished:
                continue
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    # -- endpoints --------------------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/o/oauth2/v2/auth",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        })

    async def _jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        return JSONResponse(self.jwks())

    async def _authorize(self, request: Request) -> Response:
        return RedirectResponse(self.approve(str(request.url)), status_code=302)

    def approve(self, url: str, *, deny: bool = False) -> str:
        """The person approves (or refuses) at Google: the URL the browser is redirected back to."""
        params = dict(parse_qsl(urlsplit(url).query))
        if params.get("client_id") != self.client_id:
            raise AssertionError(f"unknown client {params.get('client_id')!r}")  # Google shows an error page
        back = params["redirect_uri"]
        sep = "&" if "?" in back else "?"
        if deny:
            return f"{back}{sep}{urlencode({'error': 'access_denied', 'state': params.get('state', '')})}"
        problems = [p for p, ok in (
            ("response_type", params.get("response_type") == "code"),
            ("code_challenge_method", params.get("code_challenge_method") == "S256"),
            ("code_challenge", bool(params.get("code_challenge"))),
            ("scope", "openid" in params.get("scope", "").split()),
        ) if not ok]
        if problems:
            return f"{back}{sep}{urlencode({'error': 'invalid_request', 'state': params.get('state', '')})}"
        scopes = tuple(s for s in params["scope"].split() if s not in self.unticked)
        if params.get("include_granted_scopes") == "true":
            scopes = tuple(dict.fromkeys([*sorted(self.granted_before), *scopes]))
        self.granted_before.update(scopes)
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Grant(params=params, user=self.user, scopes=scopes)
        return f"{back}{sep}{urlencode({'code': code, 'state': params.get('state', ''), 'iss': self.issuer})}"

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        return cid == self.client_id and secrets.compare_digest(secret, self.client_secret)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") == "refresh_token":
            scopes = self.refresh_tokens.get(form.get("refresh_token", ""))
            if scopes is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse({"access_token": secrets.token_urlsafe(16), "expires_in": 3599,
                                 "token_type": "Bearer", "scope": " ".join(scopes)})
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        grant = self.codes.pop(form.get("code", ""), None)  # single use, whatever happens next
        if grant is None or form.get("redirect_uri") != grant.params["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if _s256(form.get("code_verifier", "")) != grant.params["code_challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "Invalid code verifier."},
                                status_code=400)
        body: dict[str, Any] = {"access_token": secrets.token_urlsafe(16), "expires_in": 3599, "token_type": "Bearer",
                                "scope": " ".join(grant.scopes), "id_token": self.id_token(grant)}
        if grant.params.get("access_type") == "offline" and self.give_refresh_token:
            refresh = "1//" + secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = grant.scopes
            body["refresh_token"] = refresh
        return JSONResponse(body)

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "azp": self.client_id, "aud": self.client_id, "sub": grant.user.sub,
            "email": grant.user.email, "email_verified": grant.user.email_verified, "name": grant.user.name,
            "iat": now, "exp": now + 3600,
        }
        if "nonce" in grant.params:
            claims["nonce"] = grant.params["nonce"]
        for name, value in self.claim_overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        if self.sign_mode == "none":
            return jwt.encode(claims, None, algorithm="none")
        if self.sign_mode == "hs256":  # the classic confusion: the public key used as an HMAC secret
            return jwt.encode(claims, secrets.token_bytes(32), algorithm="HS256", headers={"kid": self.signing_kid})
        key = self.keys[self.signing_kid]
        if self.sign_mode == "foreign-key":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.signing_kid})


@contextmanager
def served_issuer(port: int) -> Iterator[FakeOidcIssuer]:
    """The fake on http://127.0.0.1:PORT in a thread, stopped on exit (for a browser or google-auth's HTTP)."""
    fake = FakeOidcIssuer(f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake OIDC issuer did not start")
        time.sleep(0.01)
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
