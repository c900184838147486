"""One person, several sign-in methods: after linking a wallet, Google and Telegram to the account she made
with an email link, she reaches the same memories from a new browser through any of them. Google is the
fake OpenID issuer (tests/fakes_oidc.py) served on loopback, reached by the real browser; Telegram's widget
script is a stand-in served by the browser itself (e2e_people.py), its data signed with the test bot's token."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_oauth import RemoteClient, remember, search_texts
from e2e_people import TELEGRAM_BOT_NAME, TELEGRAM_BOT_TOKEN, Person
from fakes_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidcIssuer, FakeUser, served_issuer
from servers import Server, free_port


@pytest.fixture(scope="module")
def google() -> Iterator[FakeOidcIssuer]:
    with served_issuer(free_port()) as fake:
        yield fake


@pytest.fixture(scope="module")
def sign_in_server(start_server: Callable[..., Server], google: FakeOidcIssuer) -> Server:
    return start_server(JARVIS_SIGN_IN="email,google,wallet,telegram", JARVIS_GOOGLE_ISSUER=google.issuer,
                        JARVIS_GOOGLE_CLIENT_ID=CLIENT_ID, JARVIS_GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                        JARVIS_TELEGRAM_BOT_TOKEN=TELEGRAM_BOT_TOKEN, JARVIS_TELEGRAM_BOT_NAME=TELEGRAM_BOT_NAME)


async def _finds(server: Server, someone: Person, query: str, marker: str) -> bool:
    app = RemoteClient(server.mcp_url, someone.authorize)
    try:
        async with app.connect() as client:
            return any(marker in text for text in await search_texts(client, query))
    finally:
        app.close()


async def test_linked_wallet_and_google_reach_the_same_memories(
    sign_in_server: Server, google: FakeOidcIssuer, person: Callable[..., Person],
) -> None:
    marker = uuid.uuid4().hex[:10]
    carla = person("carla.links@example.com")
    app = RemoteClient(sign_in_server.mcp_url, carla.authorize)
    try:
        async with app.connect() as client:
            await remember(client, f"Carla's passport is in the second drawer ({marker})")
    finally:
        app.close()

    # A Google account with another address: only the explicit link can join it to Carla.
    google.user = FakeUser(sub=f"google-{marker}", email=f"carla.{marker}@gmail.example", name="Carla G.")
    assert "wallet" in carla.link("wallet")
    assert "google" in carla.link("google")
    identities = carla.link("telegram")
    assert all(method in identities for method in ("email", "wallet", "google", "telegram"))

    # A new phone with only her wallet, a new laptop with only Google, a tablet with only Telegram.
    phone = person(method="wallet", wallet_key=carla.account.key)
    laptop = person(method="google")
    tablet = person(method="telegram")
    tablet.telegram_id = carla.telegram_id
    for device in (phone, laptop, tablet):
        assert await _finds(sign_in_server, device, "where is the passport", marker), device.method
        assert not device.links_opened  # none of them used the email link


async def test_an_unlinked_google_account_is_someone_else(
    sign_in_server: Server, google: FakeOidcIssuer, person: Callable[..., Person],
) -> None:
    marker = uuid.uuid4().hex[:10]
    dani = person("dani.alone@example.com")
    app = RemoteClient(sign_in_server.mcp_url, dani.authorize)
    try:
        async with app.connect() as client:
            await remember(client, f"Dani's bike lock code is 4471 ({marker})")
    finally:
        app.close()

    google.user = FakeUser(sub=f"stranger-{marker}", email=f"stranger.{marker}@gmail.example", name="Stranger")
    assert not await _finds(sign_in_server, person(method="google"), "bike lock code", marker)


async def test_an_unlinked_wallet_no_longer_reaches_the_account(
    sign_in_server: Server, person: Callable[..., Person],
) -> None:
    marker = uuid.uuid4().hex[:10]
    flor = person("flor.unlinks@example.com")
    app = RemoteClient(sign_in_server.mcp_url, flor.authorize)
    try:
        async with app.connect() as client:
            await remember(client, f"Flor's spare glasses are in the car ({marker})")
    finally:
        app.close()
    assert "wallet" in flor.link("wallet")

    remaining = flor.unlink("wallet")
    assert "wallet" not in remaining and "email" in remaining
    # The same key on a new browser is now a stranger: a new account, without Flor's memories.
    assert not await _finds(sign_in_server, person(method="wallet", wallet_key=flor.account.key),
                            "spare glasses", marker)


@pytest.mark.parametrize("verified", [True, False])
async def test_google_with_an_already_known_email_joins_only_when_google_verified_it(
    sign_in_server: Server, google: FakeOidcIssuer, person: Callable[..., Person], verified: bool,
) -> None:
    marker = uuid.uuid4().hex[:10]
    address = f"elena.{marker}@example.com"
    elena = person(address)
    app = RemoteClient(sign_in_server.mcp_url, elena.authorize)
    try:
        async with app.connect() as client:
            await remember(client, f"Elena's dentist is on Thursday ({marker})")
    finally:
        app.close()

    # Google says this account has Elena's address (differently cased), verified or not.
    google.user = FakeUser(sub=f"elena-{marker}", email=address.upper(), email_verified=verified, name="Elena")
    assert await _finds(sign_in_server, person(method="google"), "when is the dentist", marker) is verified


SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "sign-in.png"


def test_the_sign_in_page_offers_each_configured_method(
    sign_in_server: Server, person: Callable[..., Person],
) -> None:
    """What a person sees first. UPDATE_SCREENSHOTS=1 also saves it as docs/sign-in.png (the README's)."""
    visitor = person()

    def look() -> tuple[str, list[str]]:
        page = visitor.context.new_page()
        try:
            page.set_viewport_size({"width": 720, "height": 720})
            page.goto(f"{sign_in_server.base}/signin")
            page.wait_for_selector("#telegram-login")  # the (stand-in) widget's button
            buttons = [page.inner_text(f"#{b}") for b in ("email-submit", "google-submit", "wallet-submit",
                                                           "telegram-login")]
            if os.environ.get("UPDATE_SCREENSHOTS"):
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            return page.inner_text("#title"), buttons
        finally:
            page.close()

    title, buttons = visitor.browser.run(look)
    assert title == "Sign in to JARVIS"
    assert buttons == ["Email me a sign-in link", "Sign in with Google", "Sign in with an Ethereum wallet",
                       "Log in with Telegram"]
