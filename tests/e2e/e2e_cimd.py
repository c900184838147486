"""A client's home page on loopback: serves Client ID Metadata Documents over HTTPS.

The SDK only uses a client_metadata_url that is https with a path, and the server only fetches one over
https, so this is a real TLS server on 127.0.0.1 with a certificate from a throwaway CA (trustme). The
server under test is started with SSL_CERT_FILE pointing at that CA, and with the development setting
that lets it fetch from loopback at all. The bundle keeps certifi's roots beside the throwaway CA, so
every other https call the server makes is verified exactly as before.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import certifi
import trustme


class MetadataHost:
    """Documents by path; `fetches` counts what the authorization server actually asked for."""

    def __init__(self, ca_file: Path, port: int) -> None:
        self.ca_file = ca_file
        self.port = port
        self.documents: dict[str, dict[str, Any]] = {}
        self.fetches: list[str] = []

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def publish(self, path: str, redirect_uris: list[str], *, name: str = "JARVIS e2e (CIMD)") -> str:
        """Publish a client's metadata document at `path`; its URL is its client_id (the CIMD rule)."""
        client_id = self.url(path)
        self.documents[path] = {
            "client_id": client_id,
            "client_name": name,
            "redirect_uris": redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        return client_id


@contextmanager
def metadata_host(tmp: Path) -> Iterator[MetadataHost]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = tmp / "cimd-ca-bundle.pem"
    ca_file.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + ca.cert_pem.bytes())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    host: MetadataHost | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            assert host is not None
            host.fetches.append(self.path)
            document = host.documents.get(self.path)
            body = json.dumps(document).encode() if document else b'{"error": "not found"}'
            self.send_response(200 if document else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    host = MetadataHost(ca_file, server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="cimd-host", daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
