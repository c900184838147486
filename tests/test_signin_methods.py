"""Signing in through the real page of a real `jarvis-mcp serve --transport http`, by wallet, Telegram and
Google, as a browser would post its forms (cookies, CSRF tokens, redirects): each proof checked by the
server, a session made, the identity listed, a second method linked, and two people kept apart."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fakes_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidcIssuer, FakeUser, served_issuer
from servers import Server, free_port, http_server

from jarvis_mcp import bootstrap
from jarvis_mcp.config import Settings

BOT_TOKEN = "123456789:AAH-route-test-token"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def google_fake() -> Iterator[FakeOidcIssuer]:
    with served_issuer(free_port()) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(google_fake: FakeOidcIssuer) -> Iterator[Server]:
    env = {"JARVIS_SIGN_IN": "wallet,telegram,google", "JARVIS_PUBLIC_URL": "http://127.0.0.1:{port}/mcp",
           "JARVIS_TELEGRAM_BOT_TOKEN": BOT_TOKEN, "JARVIS_TELEGRAM_BOT_NAME": "JarvisTestBot",
           "JARVIS_GOOGLE_CLIENT_ID": CLIENT_ID, "JARVIS_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
           "JARVIS_GOOGLE_ISSUER": google_fake.issuer}
    with http_server(env) as running:
        yield running


class Visitor:
    """One browser: its own cookies, reading the CSRF token off the page like the page's forms do."""

    def __init__(self, server: Server) -> None:
        self.http = httpx2.Client(base_url=server.base, timeout=15)
        self.server = server
        self.wallet = Account.create()

    def csrf(self) -> str:
        page = self.http.get("/signin")
        assert page.status_code == 200
        return _CSRF.search(page.text).group(1)

    def wallet_message(self, csrf: str) -> str:
        answer = self.http.post("/signin/wallet/message", data={"address": self.wallet.address, "csrf_token": csrf})
        assert answer.status_code == 200, answer.text
        return answer.json()["message"]

    def sign_in_with_wallet(self, *, signer=None) -> httpx2.Response:  # noqa: ANN001
        csrf = self.csrf()
        message = self.wallet_message(csrf)
        signature = (signer or self.wallet).sign_message(encode_defunct(text=message)).signature.hex()
        return self.http.post("/signin/wallet", data={"csrf_token": csrf, "message": message,
                                                      "signature": "0x" + signature})

    def sign_in_with_telegram(self, fields: dict[str, str]) -> httpx2.Response:
        return self.http.post("/signin/telegram", data={"csrf_token": self.csrf(), **fields})

    def identities(self) -> str:
        page = self.http.get("/account/identities")
        assert page.status_code == 200, page.status_code
        return page.text

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def visitor(server: Server) -> Iterator[Visitor]:
    person = Visitor(server)
    yield person
    person.close()


def telegram_fields(user_id: str = "424242", *, first_name: str = "José", auth_date: int | None = None,
                    token: str = BOT_TOKEN) -> dict[str, str]:
    fields = {"id": user_id, "first_name": first_name, "username": "jose_t",
              "auth_date": str(auth_date or int(time.time()))}
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    secret = hashlib.sha256(token.encode()).digest()
    return {**fields, "hash": hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()}


def signed_in(response: httpx2.Response) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account/identities"
    assert "jarvis_session" in response.cookies


# -- wallet -----------------------------------------------------------------------------------------


def test_a_wallet_signs_in_through_the_page(visitor: Visitor) -> None:
    message = visitor.wallet_message(visitor.csrf())
    host = urlsplit(visitor.server.base).netloc
    assert message.startswith(f"{host} wants you to sign in with your Ethereum account:\n{visitor.wallet.address}\n")
    signed_in(visitor.sign_in_with_wallet())
    page = visitor.identities()
    assert "wallet" in page and visitor.wallet.address[:6] in page


def test_a_replayed_wallet_signature_is_refused(visitor: Visitor) -> None:
    csrf = visitor.csrf()
    message = visitor.wallet_message(csrf)
    form = {"csrf_token": csrf, "message": message,
            "signature": "0x" + visitor.wallet.sign_message(encode_defunct(text=message)).signature.hex()}
    signed_in(visitor.http.post("/signin/wallet", data=form))
    again = Visitor(visitor.server)
    try:
        replay = again.http.post("/signin/wallet", data={**form, "csrf_token": again.csrf()})
    finally:
        again.close()
    assert replay.status_code == 400 and "already used" in replay.text
    assert "jarvis_session" not in replay.cookies


def test_a_signature_from_another_key_is_refused_on_the_page(visitor: Visitor) -> None:
    answer = visitor.sign_in_with_wallet(signer=Account.create())
    assert answer.status_code == 400
    assert "contract wallets are not supported yet; sign with an externally owned account" in answer.text
    assert "jarvis_session" not in answer.cookies


def test_a_wallet_form_without_the_csrf_token_is_refused(visitor: Visitor) -> None:
    message = visitor.wallet_message(visitor.csrf())
    signature = visitor.wallet.sign_message(encode_defunct(text=message)).signature.hex()
    answer = visitor.http.post("/signin/wallet", data={"message": message, "signature": "0x" + signature})
    assert answer.status_code == 403 and "jarvis_session" not in answer.cookies


# -- telegram ---------------------------------------------------------------------------------------


def test_telegram_signs_in_through_the_page(visitor: Visitor) -> None:
    assert 'data-telegram-login="JarvisTestBot"' in visitor.http.get("/signin").text
    signed_in(visitor.sign_in_with_telegram(telegram_fields("5550001")))
    assert "telegram" in visitor.identities()


def test_a_telegram_payload_signs_in_once(server: Server) -> None:
    fields = telegram_fields("5550009")
    first, second = Visitor(server), Visitor(server)
    try:
        signed_in(first.sign_in_with_telegram(fields))
        replay = second.sign_in_with_telegram(fields)
        assert replay.status_code == 400 and "jarvis_session" not in replay.cookies
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(("fields", "why"), [
    ({**telegram_fields(), "first_name": "Mallory"}, "signature check"),
    (telegram_fields(token="987:another-bot"), "signature check"),
    (telegram_fields(auth_date=int(time.time()) - 2 * 86400), "expired"),
    ({k: v for k, v in telegram_fields().items() if k != "hash"}, "no hash"),
])
def test_bad_telegram_data_is_refused_on_the_page(visitor: Visitor, fields: dict[str, str], why: str) -> None:
    answer = visitor.sign_in_with_telegram(fields)
    assert answer.status_code == 400 and why in answer.text
    assert "jarvis_session" not in answer.cookies


# -- linking and isolation --------------------------------------------------------------------------


def test_a_second_method_links_to_the_signed_in_person_and_not_to_another(server: Server) -> None:
    ana, bob = Visitor(server), Visitor(server)
    try:
        signed_in(ana.sign_in_with_wallet())
        signed_in(ana.sign_in_with_telegram(telegram_fields("7770001", first_name="Ana")))
        page = ana.identities()
        assert "wallet" in page and "telegram" in page
        signed_in(bob.sign_in_with_telegram(telegram_fields("7770002", first_name="Bob")))
        theirs = bob.identities()
        assert "telegram" in theirs and "wallet" not in theirs and ana.wallet.address[:6] not in theirs
        # Bob, signed in, cannot take Ana's Telegram account into his.
        # (a fresh payload: the one Ana used is spent)
        taken = bob.sign_in_with_telegram(telegram_fields("7770001", first_name="Ana", auth_date=int(time.time()) - 5))
        assert taken.status_code == 409 and "belongs to another account" in taken.text
    finally:
        ana.close()
        bob.close()


# -- google -----------------------------------------------------------------------------------------


def google_round_trip(visitor: Visitor, fake: FakeOidcIssuer) -> httpx2.Response:
    """Press "Sign in with Google", approve at the (fake) Google, come back to the callback."""
    to_google = visitor.http.post("/signin/google", data={"csrf_token": visitor.csrf()})
    assert to_google.status_code in (302, 303), to_google.text
    location = to_google.headers["location"]
    assert location.startswith(f"{fake.issuer}/o/oauth2/v2/auth?")
    back = fake.approve(location)
    assert back.startswith(visitor.server.base)
    return visitor.http.get(back.removeprefix(visitor.server.base))


def test_google_signs_in_through_the_page(visitor: Visitor, google_fake: FakeOidcIssuer) -> None:
    google_fake.user = FakeUser(sub="g-route-1", email="Marta.Lopez@Example.com", name="Marta López")
    signed_in(google_round_trip(visitor, google_fake))
    assert "google" in visitor.identities()


def test_a_google_callback_replayed_in_another_browser_is_refused(server: Server, google_fake: FakeOidcIssuer) -> None:
    first, second = Visitor(server), Visitor(server)
    try:
        to_google = first.http.post("/signin/google", data={"csrf_token": first.csrf()})
        back = google_fake.approve(to_google.headers["location"]).removeprefix(server.base)
        signed_in(first.http.get(back))
        replay = second.http.get(back)
        assert replay.status_code == 400 and "jarvis_session" not in replay.cookies
    finally:
        first.close()
        second.close()


def test_a_forged_google_answer_is_refused_on_the_page(visitor: Visitor, google_fake: FakeOidcIssuer) -> None:
    google_fake.claim_overrides = {"aud": "someone-elses-client"}
    try:
        answer = google_round_trip(visitor, google_fake)
    finally:
        google_fake.claim_overrides = {}
    assert answer.status_code == 400 and "another application" in answer.text
    assert "jarvis_session" not in answer.cookies


def test_an_attackers_google_callback_does_not_sign_in_another_browser(server: Server,
                                                                       google_fake: FakeOidcIssuer) -> None:
    """Login CSRF: the attacker approves at Google but sends the callback URL to a victim instead of using it."""
    attacker, victim = Visitor(server), Visitor(server)
    try:
        to_google = attacker.http.post("/signin/google", data={"csrf_token": attacker.csrf()})
        back = google_fake.approve(to_google.headers["location"]).removeprefix(server.base)
        victim.csrf()  # the victim has been on the site: a CSRF cookie of their own
        answer = victim.http.get(back)
        assert answer.status_code == 400 and "jarvis_session" not in answer.cookies
    finally:
        attacker.close()
        victim.close()


def stored_google_credentials(server: Server, wallet_address: str) -> dict | None:
    """What the server stored (encrypted) for the person who signs in with this wallet, read from its store."""
    runtime = bootstrap.open_runtime(Settings(home=server.home))
    try:
        user = runtime.store.user_for_identity("eip155:1", wallet_address, "wallet", None)
        return runtime.scope_for(user).credentials.load("google")
    finally:
        runtime.close()


def test_a_signed_in_person_connects_google_from_the_web(server: Server, google_fake: FakeOidcIssuer) -> None:
    ana, bob = Visitor(server), Visitor(server)
    try:
        signed_in(ana.sign_in_with_wallet())
        signed_in(bob.sign_in_with_wallet())
        google_fake.user = FakeUser(sub="g-route-connect", email="ana.connect@example.com", name="Ana")
        to_google = ana.http.post("/account/google/connect", data={"csrf_token": ana.csrf()})
        assert to_google.status_code == 303
        asked = to_google.headers["location"]
        assert "access_type=offline" in asked and "include_granted_scopes=true" in asked and "gmail.send" in asked
        back = google_fake.approve(asked)
        assert ana.http.get(back.removeprefix(server.base)).status_code == 303
        assert "google" in ana.identities()
        info = stored_google_credentials(server, ana.wallet.address)
        assert info is not None and info["refresh_token"] in google_fake.refresh_tokens
        assert "https://www.googleapis.com/auth/calendar.events" in info["scopes"]
        raw = b"".join(p.read_bytes() for p in (server.home / "jarvis.db", server.home / "jarvis.db-wal") if p.exists())
        assert str(info["refresh_token"]).encode() not in raw  # encrypted at rest
        assert stored_google_credentials(server, bob.wallet.address) is None  # nothing for anyone else
    finally:
        ana.close()
        bob.close()


def test_connecting_google_needs_a_signed_in_person(visitor: Visitor) -> None:
    answer = visitor.http.post("/account/google/connect", data={"csrf_token": visitor.csrf()})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin?next=")
