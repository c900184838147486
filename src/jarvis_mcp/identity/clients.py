"""OAuth clients: how a redirect URI and scopes are checked, and Client ID Metadata Documents fetched
without letting a client_id URL reach into the server's own network (SSRF)."""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import json
import socket
import time
from typing import NoReturn
from urllib.parse import urlsplit

import anyio
import httpx
from mcp.shared.auth import InvalidRedirectUriError, InvalidScopeError, OAuthClientInformationFull
from pydantic import AnyUrl, ValidationError

from jarvis_mcp.identity.scopes import SCOPES

MAX_DOCUMENT_BYTES = 5 * 1024
FETCH_TIMEOUT_S = 3.0
CACHE_TTL_S = 300.0
REFUSED_TTL_S = 30.0
_CACHE_MAX = 1000
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")

#: Why the last get_client of this request found no client, for the error page (never a secret).
refusal: contextvars.ContextVar[str | None] = contextvars.ContextVar("jarvis_client_refusal", default=None)


def _loopback(host: str | None) -> bool:
    return (host or "").lower() in _LOOPBACK_NAMES


class JarvisClient(OAuthClientInformationFull):
    """A client as this server checks it: redirect URIs exactly as registered, except that a native
    app's loopback URI may use any port (RFC 8252 §7.3); scopes a subset of ours, both by default."""

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        registered = self.redirect_uris or []
        if redirect_uri is None:
            if len(registered) == 1:
                return registered[0]
            raise InvalidRedirectUriError("redirect_uri must be given: the client registered several")
        wanted = urlsplit(str(redirect_uri))
        for uri in registered:
            if str(uri) == str(redirect_uri):
                return redirect_uri
            have = urlsplit(str(uri))
            if (have.scheme == wanted.scheme == "http" and _loopback(have.hostname)
                    and have.hostname == wanted.hostname and have.path == wanted.path and have.query == wanted.query
                    and not wanted.fragment and not wanted.username):
                return redirect_uri
        raise InvalidRedirectUriError("redirect_uri is not one the client registered")

    def validate_scope(self, requested_scope: str | None) -> list[str] | None:
        # Scopes that are not ours (openid, offline_access, a client's habits) are ignored, as RFC 6749 §3.3
        # allows, rather than failing the sign-in; ours must be among those the client registered, if it
        # registered any of ours. Asking for none of ours means all the client may have.
        registered = [s for s in (self.scope or "").split() if s in SCOPES] or SCOPES
        requested = [s for s in (requested_scope or "").split() if s in SCOPES]
        for scope in requested:
            if scope not in registered:
                raise InvalidScopeError(f"scope {scope!r} was not registered by this client")
        return list(dict.fromkeys(requested)) or list(registered)


def client_from_json(info: str) -> JarvisClient:
    return JarvisClient.model_validate_json(info)


def is_metadata_url(client_id: str) -> bool:
    return client_id.startswith(("https://", "http://"))


class MetadataRefused(Exception):
    """A Client ID Metadata Document that cannot be used; the message says why, for the error page."""


class MetadataDocuments:
    """Fetches and caches Client ID Metadata Documents: https only, a public address only (checked after
    resolving, then connected to that very address, so DNS cannot swap it between check and use), at most
    5 KB within 3 s, no redirects. allow_loopback (development) admits http and https on loopback."""

    def __init__(self, *, allow_loopback: bool = False, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.allow_loopback = allow_loopback
        self._transport = transport
        self._cache: dict[str, tuple[float, JarvisClient]] = {}
        self._refused: dict[str, tuple[float, str]] = {}

    async def get(self, url: str) -> JarvisClient:
        hit = self._cache.get(url)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        refused = self._refused.get(url)
        if refused and refused[0] > time.monotonic():
            raise MetadataRefused(refused[1])  # not fetched again at every /authorize for a while
        try:
            with anyio.fail_after(FETCH_TIMEOUT_S):  # the whole fetch, however slowly the bytes drip in
                client = await self._fetch(url)
        except TimeoutError:
            self._refuse(url, "the client's metadata document took longer than 3 s")
        except MetadataRefused as exc:
            self._refuse(url, str(exc))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[url] = (time.monotonic() + CACHE_TTL_S, client)
        return client

    def _refuse(self, url: str, why: str) -> NoReturn:
        if len(self._refused) >= _CACHE_MAX:
            self._refused.clear()
        self._refused[url] = (time.monotonic() + REFUSED_TTL_S, why)
        raise MetadataRefused(why)

    async def _fetch(self, url: str) -> JarvisClient:
        parts = urlsplit(url)
        host = parts.hostname
        if not host or parts.username or parts.password or parts.fragment or parts.path in ("", "/"):
            raise MetadataRefused("a client_id URL needs a host and a path, and no credentials or fragment")
        loopback_ok = self.allow_loopback and _loopback(host)
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback_ok):
            raise MetadataRefused("a client_id URL must use https")
        address = await _resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        ip = ipaddress.ip_address(address)
        if not ip.is_global and not (loopback_ok and ip.is_loopback):
            raise MetadataRefused(f"the client_id URL's host {host} resolves to a private or reserved address")
        pinned = f"[{address}]" if ip.version == 6 else address
        target = parts._replace(netloc=f"{pinned}:{parts.port}" if parts.port else pinned).geturl()
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        try:
            async with (httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False,
                                          transport=self._transport) as http,
                        http.stream("GET", target, headers=headers, extensions={"sni_hostname": host}) as response):
                if response.status_code != 200:
                    raise MetadataRefused(f"the client's metadata document answered HTTP {response.status_code}")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise MetadataRefused("the client's metadata document is larger than 5 KB")
        except httpx.HTTPError as exc:
            raise MetadataRefused(f"the client's metadata document could not be fetched ({type(exc).__name__})") from None
        return _parse(url, body)


async def _resolve(host: str, port: int) -> str:
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                                       FETCH_TIMEOUT_S)
    except (OSError, TimeoutError):
        raise MetadataRefused(f"the client_id URL's host {host} does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    # Every address must be public: a host with one private address among public ones is refused.
    for a in addresses:
        if not ipaddress.ip_address(a).is_global and not ipaddress.ip_address(a).is_loopback:
            raise MetadataRefused(f"the client_id URL's host {host} resolves to a private or reserved address")
    return addresses[0]


def _parse(url: str, body: bytes) -> JarvisClient:
    try:
        doc = json.loads(body)
    except ValueError:
        raise MetadataRefused("the client's metadata document is not JSON") from None
    if not isinstance(doc, dict):
        raise MetadataRefused("the client's metadata document is not a JSON object")
    if doc.get("client_id") != url:
        raise MetadataRefused("the metadata document's client_id is not the URL it was fetched from")
    method = doc.get("token_endpoint_auth_method") or "none"
    if method != "none":
        raise MetadataRefused(f"token_endpoint_auth_method {method!r} is not supported for metadata document clients")
    for secret_field in ("client_secret", "client_secret_expires_at"):
        doc.pop(secret_field, None)
    if not doc.get("redirect_uris"):
        raise MetadataRefused("the client's metadata document lists no redirect_uris")
    try:
        return JarvisClient.model_validate({**doc, "token_endpoint_auth_method": "none"})
    except ValidationError as exc:
        raise MetadataRefused(f"the client's metadata document is invalid: {exc.errors()[0]['msg']}") from None
