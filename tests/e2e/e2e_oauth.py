"""The MCP Python SDK's own OAuth client, as a native app would run it: given only the server's URL.

It discovers the protected-resource and authorization-server metadata, registers (Client ID Metadata
Document when a client_metadata_url is given and the server supports it, else Dynamic Client
Registration), opens the authorization URL in "the browser" (our redirect handler hands it to a Person's
Chromium context), and receives the code on a real loopback redirect URI (RFC 8252) before exchanging it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

CALL_TIMEOUT_S = 60.0
CALLBACK_PATH = "/callback"


class MemoryTokenStorage:
    """The SDK's TokenStorage, kept in memory: what a client would persist between runs."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class LoopbackCallback:
    """The client's redirect URI: a real HTTP listener on 127.0.0.1, any free port (RFC 8252 §7.3)."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                url = urlsplit(self.path)
                if url.path == CALLBACK_PATH:
                    outer.received.append({k: v[0] for k, v in parse_qs(url.query).items()})
                body = b"<!doctype html><title>Signed in</title><p id=callback-done>You can close this window.</p>"
                self.send_response(200 if url.path == CALLBACK_PATH else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(ConnectionError):  # the browser may close the tab at once
                    self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-callback", daemon=True)
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"

    def last(self) -> dict[str, str]:
        if not self.received:
            raise AssertionError("the browser never reached the client's redirect URI")
        return self.received[-1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# What the "browser" does with an authorization URL: returns once it has landed on the redirect URI.
Authorize = Callable[[str, str], Awaitable[None]]


@dataclass
class RemoteClient:
    """One installed MCP client app: its registration and tokens survive reconnects (its storage)."""

    server_url: str
    authorize: Authorize
    client_metadata_url: str | None = None
    name: str = "JARVIS e2e (DCR)"
    storage: MemoryTokenStorage = field(default_factory=MemoryTokenStorage)
    callback: LoopbackCallback = field(default_factory=LoopbackCallback)
    authorizations: int = 0
    _provider: OAuthClientProvider | None = None

    def provider(self) -> OAuthClientProvider:
        """One provider for the app's life, like a running client: it keeps the discovered metadata."""
        if self._provider is None:
            self._provider = self._new_provider()
        return self._provider

    def expire_access_token(self) -> None:
        """As if the access token's minutes were up: the next request must refresh it first."""
        self.provider().context.token_expiry_time = time.time() - 1

    def _new_provider(self) -> OAuthClientProvider:
        metadata = OAuthClientMetadata(
            client_name=self.name, redirect_uris=[self.callback.redirect_uri],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"], response_types=["code"],
            token_endpoint_auth_method="none",
        )

        async def redirect_handler(authorization_url: str) -> None:
            self.authorizations += 1
            await self.authorize(authorization_url, self.callback.redirect_uri)

        async def callback_handler() -> AuthorizationCodeResult:
            params = self.callback.last()
            if "code" not in params:
                raise AssertionError(f"the redirect carried no code: {params}")
            return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

        return OAuthClientProvider(
            server_url=self.server_url, client_metadata=metadata, storage=self.storage,
            redirect_handler=redirect_handler, callback_handler=callback_handler,
            client_metadata_url=self.client_metadata_url,
        )

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Client]:
        """An MCP session; the first one signs in through the browser, later ones reuse (or refresh) tokens."""
        with anyio.fail_after(CALL_TIMEOUT_S):
            async with (
                httpx2.AsyncClient(auth=self.provider(), timeout=CALL_TIMEOUT_S) as http,
                Client(streamable_http_client(self.server_url, http_client=http)) as client,
            ):
                yield client

    def close(self) -> None:
        self.callback.close()


async def remember(client: Client, text: str) -> str:
    result = await client.call_tool("remember", {"text": text})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return str(result.structured_content["memory"]["id"])


async def search_texts(client: Client, query: str) -> list[str]:
    result = await client.call_tool("search_memory", {"query": query})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return [hit["text"] for hit in result.structured_content["hits"]]
