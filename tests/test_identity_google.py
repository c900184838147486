"""Google on the pages, against a fake OpenID issuer speaking the real protocol (tests/fakes_oidc.py):
sign in, a verified email joining its account, an unverified one joining nobody, and connecting Google
(Contacts, Calendar, Gmail) for a signed-in person, the refresh token stored encrypted for them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fakes_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidcIssuer, served_issuer
from oauth_support import app_client, csrf, settings, sign_in_by_email
from servers import free_port

from jarvis_mcp.adapters.sqlite import SqliteStore
from jarvis_mcp.identity.google import CONNECT_SCOPES


@pytest.fixture
def fake() -> Iterator[FakeOidcIssuer]:
    with served_issuer(free_port()) as issuer:
        yield issuer


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def client(home: Path, embedder: Any, fake: FakeOidcIssuer):
    overrides = {"sign_in": ["email", "google"], "google_client_id": CLIENT_ID, "google_client_secret": CLIENT_SECRET,
                 "google_issuer": fake.issuer}
    with app_client(settings(home, **overrides), embedder) as c:
        yield c


def google(client, fake: FakeOidcIssuer, *, connect: bool = False, deny: bool = False) -> Any:
    page = client.get("/account/identities" if connect else "/signin")
    action = "/account/google/connect" if connect else "/signin/google"
    sent = client.post(action, data={"csrf_token": csrf(page.text), "next": "/account/identities"})
    assert sent.status_code == 303, sent.text
    back = urlsplit(fake.approve(sent.headers["location"], deny=deny))
    return client.get(f"{back.path}?{back.query}")


def methods(client) -> list[str]:
    return re.findall(r'data-method="(\w+)"', client.get("/account/identities").text)


def test_sign_in_with_google(client, fake: FakeOidcIssuer) -> None:
    done = google(client, fake)
    assert done.status_code == 303, done.text
    assert methods(client) == ["google"]


def test_a_verified_google_email_joins_the_email_account(client, fake: FakeOidcIssuer) -> None:
    sign_in_by_email(client, "ana.garcia@example.com")
    client.cookies.clear()
    assert google(client, fake).status_code == 303  # a fresh browser, Google only
    assert sorted(methods(client)) == ["email", "google"]


def test_an_unverified_google_email_joins_nobody(client, fake: FakeOidcIssuer) -> None:
    sign_in_by_email(client, "ana.garcia@example.com")
    client.cookies.clear()
    fake.user.email_verified = False
    assert google(client, fake).status_code == 303
    assert methods(client) == ["google"]  # a new account of its own


def test_a_callback_is_used_once_and_bound_to_its_browser(client, fake: FakeOidcIssuer) -> None:
    page = client.get("/signin")
    sent = client.post("/signin/google", data={"csrf_token": csrf(page.text), "next": "/"})
    back = urlsplit(fake.approve(sent.headers["location"]))
    client.cookies.clear()  # someone else's browser opens the callback
    stolen = client.get(f"{back.path}?{back.query}")
    assert stolen.status_code == 400 and "does not belong to this browser" in stolen.text
    assert client.get(f"{back.path}?{back.query}").status_code == 400  # and it is spent


def test_cancelled_at_google(client, fake: FakeOidcIssuer) -> None:
    answer = google(client, fake, deny=True)
    assert answer.status_code == 400 and "cancelled" in answer.text


def test_connect_google_stores_the_refresh_token_encrypted_for_that_user(client, fake: FakeOidcIssuer,
                                                                          home: Path) -> None:
    sign_in_by_email(client, "ana.garcia@example.com")
    page = client.get("/account/identities")
    assert 'id="google-connect"' in page.text
    done = google(client, fake, connect=True)
    assert done.status_code == 303, done.text
    assert sorted(methods(client)) == ["email", "google"]
    store = SqliteStore(home / "jarvis.db")
    try:
        user = store.user_for_identity("email", "ana.garcia@example.com", "email", None)
        sealed = store.get_credential(user, "google")
    finally:
        store.close()
    assert sealed is not None and b"refresh" not in sealed  # stored, and not in the clear
    request = fake.token_requests[-1]
    assert request["grant_type"] == "authorization_code" and request["code_verifier"]
    assert set(CONNECT_SCOPES) <= set(fake.granted_before)


def test_connect_needs_a_signed_in_person(client) -> None:
    page = client.get("/signin")
    answer = client.post("/account/google/connect", data={"csrf_token": csrf(page.text)})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
