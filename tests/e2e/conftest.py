"""Fixtures for the tests that go through real clients: a real server process, Debian's Chromium, the
SDK's OAuth client. One browser per session and one server per module keep the directory fast; every
person still gets a fresh browser context and every client its own registration."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest
from e2e_browser import Browser, chromium_missing
from e2e_cimd import MetadataHost, metadata_host
from e2e_people import Person
from servers import Server, http_server

# What a server that is its own authorization server needs on the embedded default. The loopback
# allowance is the development setting that lets it fetch Client ID Metadata Documents from 127.0.0.1.
SIGN_IN_ENV = {
    "JARVIS_SIGN_IN": "email,wallet",
    "JARVIS_PUBLIC_URL": "http://127.0.0.1:{port}/mcp",
    "JARVIS_OAUTH_ALLOW_LOOPBACK_CLIENT_METADATA": "true",
}


def _require_chromium() -> None:
    """In CI a missing browser is a failure (the tests would silently not run); locally, a skip."""
    reason = chromium_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


# Every server started in this directory, so a failing test's report can show what the server logged.
_SERVERS: list[Server] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in _SERVERS:
            if server.stderr_path.exists():
                report.sections.append((f"jarvis-mcp on port {server.port} (stderr, last lines)",
                                        "\n".join(server.stderr().splitlines()[-60:])))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    _require_chromium()
    chromium = Browser()
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="session")
def cimd_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadataHost]:
    with metadata_host(tmp_path_factory.mktemp("cimd")) as host:
        yield host


@contextmanager
def _server(cimd_host: MetadataHost, env: dict[str, str]) -> Iterator[Server]:
    # The server trusts the loopback CA of the CIMD host besides the usual roots (SSL_CERT_FILE is read by httpx).
    settings = {**SIGN_IN_ENV, "SSL_CERT_FILE": str(cimd_host.ca_file), **env}
    with http_server(settings) as server:
        _SERVERS.append(server)
        try:
            yield server
        finally:
            _SERVERS.remove(server)


@pytest.fixture(scope="session")
def default_server(cimd_host: MetadataHost) -> Iterator[Server]:
    """One server for every module happy with the defaults (each test brings its own people and apps;
    a server's start is the slowest step here)."""
    with _server(cimd_host, {}) as server:
        yield server


@pytest.fixture(scope="module")
def start_server(cimd_host: MetadataHost) -> Iterator[Callable[..., Server]]:
    """start_server(**env) -> a running `jarvis-mcp serve --transport http` that is its own authorization
    server, with its own JARVIS_HOME; ended with the module. Extra env overrides the defaults above."""
    with ExitStack() as stack:
        yield lambda **env: stack.enter_context(_server(cimd_host, env))


@pytest.fixture(scope="module")
def sign_in_server(default_server: Server) -> Server:
    """The server a module's tests sign in on: by default the shared one (email links and wallets on the
    embedded default). A module that needs other settings overrides it with start_server(...)."""
    return default_server


@pytest.fixture
def person(browser: Browser, sign_in_server: Server) -> Iterator[Callable[..., Person]]:
    """person("ana@example.com") or person(method="wallet"|"google", wallet_key=...) -> someone at a fresh
    browser (no cookies), who signs in on the module's server that way when an app sends them there."""
    people: list[Person] = []

    def make(email: str = "", *, method: str = "email", wallet_key: str | None = None) -> Person:
        someone = Person(browser, sign_in_server, email, wallet_key=wallet_key)
        someone.method = method
        people.append(someone)
        return someone

    yield make
    for someone in people:
        someone.close()
