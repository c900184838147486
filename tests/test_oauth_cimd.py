"""Client ID Metadata Documents: a client known by the URL of its metadata, fetched with SSRF protection
(https only; no private, link-local, loopback or reserved address unless the development setting allows
loopback), at most 5 KB, no redirects, its client_id equal to its URL; then the whole code flow."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from oauth_support import Grant, app_client, authorize, authorize_url, exchange, pkce, settings

from jarvis_mcp.identity.clients import MetadataDocuments, MetadataRefused

REDIRECT = "http://127.0.0.1:9999/callback"


class Documents:
    """A loopback web server serving documents by path; hits counted."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits += 1
                status, body, headers = outer.routes.get(self.path, (404, b"{}", {}))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def document(self, path: str, **fields: Any) -> str:
        url = self.base + path
        doc = {"client_id": url, "client_name": "Metadata App", "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none", **fields}
        self.routes[path] = (200, json.dumps(doc).encode(), {})
        return url


@pytest.fixture
def docs() -> Iterator[Documents]:
    d = Documents()
    yield d
    d.server.shutdown()


def test_full_code_flow_for_a_metadata_document_client(tmp_path: Path, embedder: Any, docs: Documents) -> None:
    url = docs.document("/client.json")
    with app_client(settings(tmp_path / "home", oauth_allow_loopback_client_metadata=True), embedder) as client:
        verifier, challenge = pkce()
        grant = Grant(url, verifier)
        page_query = authorize(client, grant, challenge, address="cimd@example.com")
        tokens = exchange(client, grant, page_query["code"][0])
        assert tokens.status_code == 200, tokens.text
        consent = client.get(client.get(authorize_url(grant, challenge)).headers["location"])
        assert "Metadata App" in consent.text and "127.0.0.1:9999" in consent.text


def test_with_the_setting_off_a_loopback_document_is_refused(tmp_path: Path, embedder: Any, docs: Documents) -> None:
    url = docs.document("/client.json")
    with app_client(settings(tmp_path / "home"), embedder) as client:
        verifier, challenge = pkce()
        answer = client.get(authorize_url(Grant(url, verifier), challenge))
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "must use https" in answer.text
    assert docs.hits == 0  # refused before any request left the server


@pytest.mark.parametrize("url,why", [
    ("https://127.0.0.1/client.json", "private or reserved"),
    ("https://10.1.2.3/client.json", "private or reserved"),
    ("https://192.168.0.10/client.json", "private or reserved"),
    ("https://169.254.169.254/latest/meta-data", "private or reserved"),
    ("https://[::1]/client.json", "private or reserved"),
    ("https://[fd00::1]/client.json", "private or reserved"),
    ("https://0.0.0.0/client.json", "private or reserved"),
    ("https://localhost/client.json", "private or reserved"),
    ("http://example.com/client.json", "must use https"),
    ("https://example.com", "host and a path"),
    ("https://user:pw@example.com/c.json", "host and a path"),
])
async def test_ssrf_refusals(url: str, why: str) -> None:
    with pytest.raises(MetadataRefused, match=why):
        await MetadataDocuments().get(url)


async def test_a_document_must_name_its_own_url(docs: Documents) -> None:
    url = docs.document("/c.json")
    docs.routes["/c.json"] = (200, json.dumps({"client_id": "https://other.example/c.json",
                                               "redirect_uris": [REDIRECT]}).encode(), {})
    with pytest.raises(MetadataRefused, match="not the URL"):
        await MetadataDocuments(allow_loopback=True).get(url)


async def test_size_redirects_and_secrets_are_refused(docs: Documents) -> None:
    documents = MetadataDocuments(allow_loopback=True)
    big = docs.document("/big.json", padding="x" * 6000)
    with pytest.raises(MetadataRefused, match="larger than 5 KB"):
        await documents.get(big)
    docs.routes["/moved.json"] = (302, b"", {"Location": "http://169.254.169.254/"})
    with pytest.raises(MetadataRefused, match="HTTP 302"):
        await documents.get(docs.base + "/moved.json")
    secret = docs.document("/secret.json", token_endpoint_auth_method="client_secret_basic")
    with pytest.raises(MetadataRefused, match="not supported"):
        await documents.get(secret)


async def test_documents_are_cached(docs: Documents) -> None:
    documents = MetadataDocuments(allow_loopback=True)
    url = docs.document("/cached.json")
    first = await documents.get(url)
    second = await documents.get(url)
    assert first.client_name == second.client_name == "Metadata App"
    assert docs.hits == 1


async def test_a_slow_document_is_cut_at_three_seconds_and_the_refusal_remembered(docs: Documents) -> None:
    import time as clock

    documents = MetadataDocuments(allow_loopback=True)
    url = docs.document("/slow.json")
    original = docs.server.RequestHandlerClass.do_GET

    def slow(handler) -> None:  # noqa: ANN001
        clock.sleep(3.5)
        original(handler)

    docs.server.RequestHandlerClass.do_GET = slow  # type: ignore[method-assign]
    started = clock.monotonic()
    with pytest.raises(MetadataRefused, match="longer than 3 s|could not be fetched"):
        await documents.get(url)
    assert clock.monotonic() - started < 3.4
    again = clock.monotonic()
    with pytest.raises(MetadataRefused, match="longer than 3 s|could not be fetched"):
        await documents.get(url)  # remembered: not fetched (and waited for) again at once
    assert clock.monotonic() - again < 0.5
