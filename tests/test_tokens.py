from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from jarvis_mcp import tokens
from jarvis_mcp.config import Settings
from jarvis_mcp.tokens import (
    DEFAULT_AUDIENCE,
    JwtVerifier,
    identity_from_access_token,
    issue_token,
    parse_ttl,
)

SECRET = "s" * 32
AUD = "http://127.0.0.1:8765/mcp"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, jwt_secret=SECRET, jwt_audience=AUD)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hs(claims: dict, secret: str = SECRET, alg: str = "HS256") -> str:
    """A token with sensible defaults; a claim given as None is left out."""
    payload = {"sub": "alice", "aud": AUD, "exp": int(time.time()) + 600} | claims
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm=alg)


async def test_round_trip(settings: Settings) -> None:
    token = issue_token(
        settings, subject="alice", auth_method="Passkey", email="a@example.com", scopes=["r", "w"]
    )
    access = await JwtVerifier(settings).verify_token(token)
    assert access is not None
    assert access.token == token
    assert (access.subject, access.client_id, access.scopes) == ("alice", "alice", ["r", "w"])
    assert access.expires_at == access.claims["exp"]
    assert access.resource == AUD
    identity = identity_from_access_token(access, settings)
    assert identity.issuer == "local"
    assert identity.subject == "alice"
    assert identity.auth_method == "passkey"
    assert identity.email == "a@example.com"


async def test_round_trip_with_issuer_and_custom_claim(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, jwt_secret=SECRET, jwt_issuer="https://idp", jwt_auth_method_claim="amr_x")
    token = issue_token(s, subject="bob")
    access = await JwtVerifier(s).verify_token(token)
    assert access is not None
    assert access.claims["aud"] == DEFAULT_AUDIENCE and access.claims["amr_x"] == "local"
    identity = identity_from_access_token(access, s)
    assert (identity.issuer, identity.auth_method, identity.email) == ("https://idp", "local", None)


async def test_identity_claim_rules(settings: Settings) -> None:
    verifier = JwtVerifier(settings)
    access = await verifier.verify_token(
        _hs({"iss": "https://idp", "email": "x@y", "auth_method": "bad method!", "azp": "app", "scp": ["a"]})
    )
    assert access is not None and access.client_id == "app" and access.scopes == ["a"]
    identity = identity_from_access_token(access, settings)
    # external issuer without email_verified: the address is not trusted
    assert (identity.issuer, identity.auth_method, identity.email) == ("https://idp", "unknown", None)
    access = await verifier.verify_token(_hs({"email": "x@y", "email_verified": False}))
    assert access is not None
    assert identity_from_access_token(access, settings).email is None
    assert identity_from_access_token(access, settings).auth_method == "unknown"


async def test_leeway_accepts_just_expired(settings: Settings) -> None:
    assert await JwtVerifier(settings).verify_token(_hs({"exp": int(time.time()) - 10})) is not None


def _hs384_right_key() -> str:
    with warnings.catch_warnings():  # the 32-byte test secret is short for SHA-384, which is beside the point
        warnings.simplefilter("ignore")
        return _hs({}, alg="HS384")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _hs({"exp": int(time.time()) - 120}), id="expired"),
        pytest.param(lambda: _hs({"nbf": int(time.time()) + 120}), id="nbf-future"),
        pytest.param(lambda: _hs({}, secret="t" * 32), id="wrong-signature"),
        pytest.param(_hs384_right_key, id="hs384"),
        pytest.param(lambda: _hs({"aud": "http://elsewhere/mcp"}), id="wrong-audience"),
        pytest.param(lambda: _hs({"aud": None}), id="missing-audience"),
        pytest.param(lambda: _hs({"sub": None}), id="missing-sub"),
        pytest.param(lambda: _hs({"sub": ""}), id="empty-sub"),
        pytest.param(lambda: _hs({"exp": None}), id="missing-exp"),
        pytest.param(
            lambda: (
                _b64({"alg": "none", "typ": "JWT"}) + "." + _b64({"sub": "a", "aud": AUD, "exp": 2**31}) + "."
            ),
            id="alg-none",
        ),
        pytest.param(lambda: "not a jwt", id="garbage"),
        pytest.param(lambda: "a.b.c", id="garbage-parts"),
        pytest.param(lambda: "", id="empty"),
    ],
)
async def test_rejected(settings: Settings, make: Callable[[], str]) -> None:
    # tokens are built at run time, not collection time, so exp/nbf margins hold in a long session
    token = make()
    assert await JwtVerifier(settings).verify_token(token) is None


async def test_wrong_issuer(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, jwt_secret=SECRET, jwt_issuer="https://idp", jwt_audience=AUD)
    verifier = JwtVerifier(s)
    assert await verifier.verify_token(_hs({"iss": "https://idp"})) is not None
    other = jwt.encode(
        {"sub": "a", "exp": int(time.time()) + 60, "iss": "https://evil"}, SECRET, algorithm="HS256"
    )
    missing = jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert await verifier.verify_token(other) is None
    assert await verifier.verify_token(missing) is None


async def test_public_url_is_the_default_audience(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, jwt_secret=SECRET, public_url="https://jarvis.example/mcp")
    token = issue_token(s, subject="a")
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "https://jarvis.example/mcp"
    assert await JwtVerifier(s).verify_token(token) is not None
    assert await JwtVerifier(s).verify_token(_hs({})) is None


def test_issue_token_requires_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JARVIS_JWT_SECRET"):
        issue_token(Settings(home=tmp_path), subject="a")


# --- JWKS (RS256 / ES256) -----------------------------------------------------------------------------


class _Keys:
    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        rsa_jwk = RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True) | {
            "kid": "r1",
            "alg": "RS256",
            "use": "sig",
        }
        ec_jwk = ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True) | {
            "kid": "e1",
            "alg": "ES256",
            "use": "sig",
        }
        self.jwks = json.dumps({"keys": [rsa_jwk, ec_jwk]}).encode()


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[tuple[str, _Keys]]:
    keys = _Keys()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(keys.jwks)))
            self.end_headers()
            self.wfile.write(keys.jwks)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", keys
    finally:
        server.shutdown()
        server.server_close()


def _signed(key: object, alg: str, kid: str, **claims: object) -> str:
    payload = {"sub": "carol", "aud": AUD, "iss": "https://idp", "exp": int(time.time()) + 600} | claims
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def jwks_settings(tmp_path: Path, jwks_server: tuple[str, _Keys]) -> Settings:
    return Settings(home=tmp_path, jwks_url=jwks_server[0], jwt_issuer="https://idp", jwt_audience=AUD)


async def test_rs256_and_es256_via_jwks(jwks_settings: Settings, jwks_server: tuple[str, _Keys]) -> None:
    keys = jwks_server[1]
    verifier = JwtVerifier(jwks_settings)
    access = await verifier.verify_token(
        _signed(keys.rsa, "RS256", "r1", scope="read write", email_verified=True, email="c@d")
    )
    assert access is not None and access.subject == "carol" and access.scopes == ["read", "write"]
    identity = identity_from_access_token(access, jwks_settings)
    # email_verified alone is not enough: the provider is not named in JARVIS_EMAIL_LINK_ISSUERS
    assert (identity.issuer, identity.email, identity.auth_method) == ("https://idp", None, "unknown")
    trusting = jwks_settings.model_copy(update={"email_link_issuers": ["https://idp"]})
    assert identity_from_access_token(access, trusting).email == "c@d"
    assert await verifier.verify_token(_signed(keys.ec, "ES256", "e1")) is not None


async def test_jwks_rejections(jwks_settings: Settings, jwks_server: tuple[str, _Keys]) -> None:
    keys = jwks_server[1]
    verifier = JwtVerifier(jwks_settings)
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_ec = ec.generate_private_key(ec.SECP256R1())
    assert await verifier.verify_token(_signed(other_rsa, "RS256", "r1")) is None
    assert await verifier.verify_token(_signed(other_ec, "ES256", "e1")) is None
    assert await verifier.verify_token(_signed(keys.rsa, "RS256", "unknown-kid")) is None
    # header says ES256 but the kid names the RSA key: the key's own algorithm wins
    assert await verifier.verify_token(_signed(keys.ec, "ES256", "r1")) is None
    assert await verifier.verify_token(_signed(keys.rsa, "RS256", "r1", iss="https://evil")) is None


async def test_hs256_with_rsa_public_key_as_secret(tmp_path: Path, jwks_server: tuple[str, _Keys]) -> None:
    url, keys = jwks_server
    pem = keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # PyJWT refuses to *sign* HS256 with a PEM, so build the token by hand
    signing_input = (
        _b64({"alg": "HS256", "typ": "JWT", "kid": "r1"})
        + "."
        + _b64({"sub": "mallory", "aud": AUD, "iss": "https://idp", "exp": int(time.time()) + 600})
    )
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    jwks_only = Settings(home=tmp_path, jwks_url=url, jwt_issuer="https://idp", jwt_audience=AUD)
    both = Settings(
        home=tmp_path, jwks_url=url, jwt_secret=SECRET, jwt_issuer="https://idp", jwt_audience=AUD
    )
    assert await JwtVerifier(jwks_only).verify_token(forged) is None
    assert await JwtVerifier(both).verify_token(forged) is None
    # with both configured, the algorithm still routes each token to its own key
    assert await JwtVerifier(both).verify_token(_signed(keys.rsa, "RS256", "r1")) is not None
    assert await JwtVerifier(both).verify_token(issue_token(both, subject="dave")) is not None


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "jarvis_mcp.tokens" and r.levelno >= logging.WARNING]


async def test_unreachable_jwks(
    tmp_path: Path, jwks_server: tuple[str, _Keys], caplog: pytest.LogCaptureFixture
) -> None:
    s = Settings(home=tmp_path, jwks_url="http://127.0.0.1:1/jwks.json", jwt_issuer="https://idp", jwt_audience=AUD)
    verifier = JwtVerifier(s)
    token = _signed(jwks_server[1].rsa, "RS256", "r1")
    with caplog.at_level(logging.DEBUG, logger="jarvis_mcp.tokens"):
        assert await verifier.verify_token(token) is None
        # The operator sees why, with the cause, once: the outage is not repeated on every request.
        [warning] = _warnings(caplog)
        assert warning.startswith("JWKS at http://127.0.0.1:1/jwks.json is unavailable (PyJWKClientConnectionError: ")
        assert "Connection refused" in warning and warning.endswith("bearer tokens it signs are refused until it is back")
        for _ in range(3):
            assert await verifier.verify_token(token) is None
        assert len(_warnings(caplog)) == 1
    assert token not in caplog.text and token.split(".")[2] not in caplog.text


class _Flaky:
    """A JWKS endpoint whose answer the test sets: the key set, a 503, a body that is not JSON, or silence."""

    def __init__(self, keys: _Keys) -> None:
        self.keys = keys
        self.mode = "ok"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        if self.mode == "slow":
            time.sleep(1.0)
        status, body = {"ok": (200, self.keys.jwks), "503": (503, b"down for maintenance"),
                        "garbage": (200, b"<html>not a key set</html>"), "slow": (200, self.keys.jwks)}[self.mode]
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def flaky_jwks(jwks_server: tuple[str, _Keys]) -> Iterator[tuple[str, _Flaky]]:
    flaky = _Flaky(jwks_server[1])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            flaky.answer(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", flaky
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("mode", "cause"), [("503", "HTTP Error 503"), ("garbage", "JSONDecodeError"),
                                             ("slow", "timed out")])
async def test_a_jwks_outage_is_a_warning_with_its_cause_and_its_end_is_logged_too(
    tmp_path: Path, flaky_jwks: tuple[str, _Flaky], caplog: pytest.LogCaptureFixture, mode: str, cause: str
) -> None:
    url, flaky = flaky_jwks
    verifier = JwtVerifier(Settings(home=tmp_path, jwks_url=url, jwt_issuer="https://idp", jwt_audience=AUD))
    verifier._jwks.timeout = 0.2  # type: ignore[union-attr]  # the test's patience, not the server's 10 s
    token = _signed(flaky.keys.rsa, "RS256", "r1")
    flaky.mode = mode
    with caplog.at_level(logging.DEBUG, logger="jarvis_mcp.tokens"):
        assert await verifier.verify_token(token) is None
        assert await verifier.verify_token(token) is None
        [warning] = _warnings(caplog)
        assert warning.startswith(f"JWKS at {url} is unavailable (") and cause in warning
        flaky.mode = "ok"
        assert await verifier.verify_token(token) is not None
        [back] = _warnings(caplog)[1:]
        assert re.fullmatch(rf"JWKS at {re.escape(url)} is available again after \d+ s \(2 fetches failed\)", back)
    assert token not in caplog.text and token.split(".")[2] not in caplog.text


async def test_a_jwks_outage_is_repeated_while_it_lasts(
    tmp_path: Path, flaky_jwks: tuple[str, _Flaky], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, flaky = flaky_jwks
    verifier = JwtVerifier(Settings(home=tmp_path, jwks_url=url, jwt_issuer="https://idp", jwt_audience=AUD))
    flaky.mode = "503"
    token = _signed(flaky.keys.rsa, "RS256", "r1")
    with caplog.at_level(logging.WARNING, logger="jarvis_mcp.tokens"):
        for _ in range(3):
            assert await verifier.verify_token(token) is None
        monkeypatch.setattr(tokens, "_OUTAGE_REMINDER_S", 0.0)
        assert await verifier.verify_token(token) is None
    assert len(_warnings(caplog)) == 2
    assert "still unavailable after" in _warnings(caplog)[1] and "4 fetches failed" in _warnings(caplog)[1]


async def test_a_bad_token_is_a_debug_line_not_a_warning(
    jwks_settings: Settings, jwks_server: tuple[str, _Keys], caplog: pytest.LogCaptureFixture
) -> None:
    keys = jwks_server[1]
    verifier = JwtVerifier(jwks_settings)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = [_signed(other, "RS256", "r1"),  # bad signature
           _signed(keys.rsa, "RS256", "r1", exp=int(time.time()) - 3600),  # expired
           _signed(keys.rsa, "RS256", "r1", aud="https://elsewhere"),  # not for us
           _signed(keys.rsa, "RS256", "no-such-kid")]  # names no key of the (reachable) set
    with caplog.at_level(logging.DEBUG, logger="jarvis_mcp.tokens"):
        for token in bad:
            assert await verifier.verify_token(token) is None
    rejected = [r for r in caplog.records if r.name == "jarvis_mcp.tokens"]
    assert len(rejected) == len(bad) and all(r.levelno == logging.DEBUG for r in rejected)
    assert all(r.getMessage().startswith("bearer token rejected: ") for r in rejected)


# --- parse_ttl ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800), ("120", 120), (" 2H ", 7200), ("30d", 2592000)],
)
def test_parse_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1w", "-5", "1.5h", "0", "0s", "31d", "720h1", "1 h x"])
def test_parse_ttl_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="TTL"):
        parse_ttl(text)


async def test_hs256_token_without_our_audience_is_refused(tmp_path: Path) -> None:
    """A token signed with the same secret but minted for another service (or with no audience) is not ours."""
    s = Settings(home=tmp_path, jwt_secret=SECRET)
    now = int(time.time())
    base = {"sub": "alice", "iat": now, "exp": now + 60}
    verifier = JwtVerifier(s)
    assert await verifier.verify_token(jwt.encode(base, SECRET, algorithm="HS256")) is None
    assert await verifier.verify_token(jwt.encode({**base, "aud": "other-service"}, SECRET, algorithm="HS256")) is None
    assert await verifier.verify_token(jwt.encode({**base, "aud": DEFAULT_AUDIENCE}, SECRET, algorithm="HS256")) is not None
