"""The sign-in pages: one user across methods (linking while signed in, a verified email joins, nothing
unproven joins anyone), unlinking never the last, CSRF on every form, cookie flags, wallet and Telegram
proofs at the HTTP boundary."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from oauth_support import app_client, csrf, settings, sign_in_by_email

from jarvis_mcp.adapters.sqlite import SqliteStore
from jarvis_mcp.identity import telegram
from jarvis_mcp.identity.proofs import ProofError, ProvenIdentity
from jarvis_mcp.identity.service import SignInService

BOT_TOKEN = "123456:test-bot-token"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def client(home: Path, embedder: Any):
    overrides = {"sign_in": ["email", "wallet", "telegram"], "telegram_bot_token": BOT_TOKEN,
                 "telegram_bot_name": "jarvis_test_bot"}
    with app_client(settings(home, **overrides), embedder) as c:
        yield c


def identities(client) -> str:
    page = client.get("/account/identities")
    assert page.status_code == 200, page.status_code
    found = re.search(r'<ul id="identity-list">(.*?)</ul>', page.text, re.S)
    assert found
    return found.group(1)


def wallet_sign_in(client, account: Any) -> Any:
    page = client.get("/signin")
    token = csrf(page.text)
    answer = client.post("/signin/wallet/message", data={"address": account.address, "csrf_token": token})
    assert answer.status_code == 200, answer.text
    message = answer.json()["message"]
    signature = Account.sign_message(encode_defunct(text=message), account.key).signature.hex()
    return client.post("/signin/wallet", data={"message": message, "signature": signature, "csrf_token": token,
                                               "next": "/account/identities"})


def telegram_sign_in(client, user_id: int, **extra: str) -> Any:
    fields = {"id": str(user_id), "first_name": "Tele", "auth_date": str(int(time.time())), **extra}
    fields["hash"] = telegram.sign(fields, BOT_TOKEN)
    page = client.get("/signin")
    return client.post("/signin/telegram", data={**fields, "csrf_token": csrf(page.text), "next": "/"})


def test_the_sign_in_page_lists_the_configured_methods(client) -> None:
    page = client.get("/signin")
    assert page.status_code == 200
    for element in ('id="email"', 'id="email-submit"', 'id="wallet-submit"', 'id="telegram-form"',
                    "data-telegram-login=\"jarvis_test_bot\""):
        assert element in page.text
    assert 'id="google-submit"' not in page.text  # asked for nowhere, configured nowhere


def test_a_method_whose_provider_is_not_configured_is_not_offered(home: Path, embedder: Any) -> None:
    with app_client(settings(home, sign_in=["email", "telegram", "google"]), embedder) as c:
        page = c.get("/signin").text
    assert 'id="email-submit"' in page
    assert 'id="telegram-form"' not in page and 'id="google-submit"' not in page


def test_linking_a_wallet_while_signed_in_gives_one_account(client, embedder: Any) -> None:
    assert sign_in_by_email(client, "ana@example.com").status_code == 303
    account = Account.create()
    linked = wallet_sign_in(client, account)
    assert linked.status_code == 303, linked.text
    listed = identities(client)
    assert 'data-method="email"' in listed and 'data-method="wallet"' in listed
    # Later, in another browser, the wallet alone reaches the same account.
    client.cookies.clear()
    assert wallet_sign_in(client, account).status_code == 303
    listed = identities(client)
    assert 'data-method="email"' in listed and 'data-method="wallet"' in listed


def test_an_identity_of_another_account_is_never_moved(client) -> None:
    assert telegram_sign_in(client, 4242).status_code == 303  # Bob, by Telegram
    client.cookies.clear()
    sign_in_by_email(client, "ana@example.com")  # Ana
    # Ana signs in with Bob's Telegram account (a fresh payload: the one Bob used is spent)
    refused = telegram_sign_in(client, 4242, auth_date=str(int(time.time()) - 5))
    assert refused.status_code == 409
    assert "belongs to another account" in refused.text
    assert 'data-method="telegram"' not in identities(client)


def test_an_unproven_wallet_signature_is_refused(client) -> None:
    page = client.get("/signin")
    token = csrf(page.text)
    account, other = Account.create(), Account.create()
    message = client.post("/signin/wallet/message", data={"address": account.address, "csrf_token": token}).json()["message"]
    forged = Account.sign_message(encode_defunct(text=message), other.key).signature.hex()
    answer = client.post("/signin/wallet", data={"message": message, "signature": forged, "csrf_token": token})
    assert answer.status_code == 400
    assert "jarvis_session" not in answer.cookies


def test_a_wallet_message_is_single_use(client) -> None:
    page = client.get("/signin")
    token = csrf(page.text)
    account = Account.create()
    message = client.post("/signin/wallet/message", data={"address": account.address, "csrf_token": token}).json()["message"]
    signature = Account.sign_message(encode_defunct(text=message), account.key).signature.hex()
    form = {"message": message, "signature": signature, "csrf_token": token}
    assert client.post("/signin/wallet", data=form).status_code == 303
    assert client.post("/signin/wallet", data=form).status_code == 400


def test_a_tampered_telegram_login_is_refused(client) -> None:
    fields = {"id": "777", "first_name": "Eve", "auth_date": str(int(time.time()))}
    fields["hash"] = telegram.sign(fields, BOT_TOKEN)
    fields["id"] = "778"
    page = client.get("/signin")
    answer = client.post("/signin/telegram", data={**fields, "csrf_token": csrf(page.text)})
    assert answer.status_code == 400
    assert "signature check" in answer.text


def test_unlink_any_but_the_last(client) -> None:
    sign_in_by_email(client, "two@example.com")
    assert telegram_sign_in(client, 555).status_code == 303  # linked while signed in
    page = client.get("/account/identities")
    refs = re.findall(r'name="ref" value="([^"]+)"', page.text)
    assert len(refs) == 2
    done = client.post("/account/identities/unlink", data={"ref": refs[1], "csrf_token": csrf(page.text)})
    assert done.status_code == 200 and "Unlinked." in done.text
    page = client.get("/account/identities")
    assert 'name="ref"' not in page.text  # the last one offers no Unlink button
    # ... and a forged request for it is refused by the store.
    last = refs[0]
    refused = client.post("/account/identities/unlink", data={"ref": last, "csrf_token": csrf(page.text)})
    assert refused.status_code == 409
    assert "only way to sign in" in refused.text


@pytest.mark.parametrize("path,data", [("/signin/email", {"email": "a@example.com"}), ("/consent", {"request": "x"}),
                                       ("/account/identities/unlink", {"ref": "x"}), ("/signout", {}),
                                       ("/signin/email/verify", {"token": "jml_x"}), ("/signin/telegram", {"id": "1"}),
                                       ("/signin/wallet", {"message": "m"}), ("/signin/wallet/message", {"address": "0x"}),
                                       ("/signin/google", {}), ("/account/google/connect", {})])
def test_every_form_refuses_a_missing_or_foreign_csrf_token(client, path: str, data: dict[str, str]) -> None:
    assert client.post(path, data=data).status_code == 403
    token = csrf(client.get("/signin").text)
    client.cookies.clear()  # a token from someone else's page, without their cookie
    client.get("/signin")
    assert client.post(path, data={**data, "csrf_token": token}).status_code == 403
    assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 403


def test_cookies_are_httponly_lax_and_not_secure_on_loopback(client) -> None:
    first = client.get("/signin")
    assert _flags(first.headers.get_list("set-cookie"), "jarvis_csrf") == {"httponly", "samesite=lax"}
    done = sign_in_by_email(client, "cookie@example.com")
    assert _flags(done.headers.get_list("set-cookie"), "jarvis_session") == {"httponly", "samesite=lax"}


def test_cookies_are_secure_off_loopback(home: Path, embedder: Any) -> None:
    from starlette.testclient import TestClient

    from jarvis_mcp.server import build_server
    from jarvis_mcp.web import http_app

    mcp = build_server(settings(home, public_url="https://jarvis.example.com/mcp"), embedder=embedder)
    with TestClient(http_app(mcp, host="0.0.0.0"), base_url="https://jarvis.example.com") as c:
        page = c.get("/signin")
    assert _flags(page.headers.get_list("set-cookie"), "jarvis_csrf") == {"httponly", "samesite=lax", "secure"}


def _flags(cookies: list[str], name: str) -> set[str]:
    line = next(c for c in cookies if c.startswith(name + "="))
    return {p.strip().lower() for p in line.split(";")[1:] if not p.strip().lower().startswith(("path", "max-age",
                                                                                                  "expires"))}


def test_pages_never_redirect_off_site(client) -> None:
    done = sign_in_by_email(client, "nav@example.com", next_url="//evil.example/x")
    assert done.headers["location"] == "/account/identities"


def test_signed_out_pages_send_to_sign_in(client) -> None:
    answer = client.get("/account/identities")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin?next=")


# -- the linking rules, on the service ------------------------------------------------------------


@pytest.fixture
def service(tmp_path: Path):
    store = SqliteStore(tmp_path / "db.sqlite")
    yield SignInService(store), store
    store.close()


GOOGLE = "https://accounts.google.com"


def test_a_verified_email_joins_the_user_who_has_it(service) -> None:
    svc, store = service
    ana = svc.sign_in(ProvenIdentity("email", "ana@example.com", "email", email="ana@example.com"), None).user_id
    google = svc.sign_in(ProvenIdentity(GOOGLE, "g-1", "google", email="ana@example.com"), None).user_id
    assert google == ana
    assert {i.auth_method for i in store.list_identities(ana)} == {"email", "google"}


def test_an_unverified_or_emailless_identity_never_joins_anyone(service) -> None:
    svc, store = service
    ana = svc.sign_in(ProvenIdentity("email", "ana@example.com", "email", email="ana@example.com"), None).user_id
    # Google without a verified email (the verifier passes email=None), a wallet, Telegram: new users.
    for proven in (ProvenIdentity(GOOGLE, "g-2", "google", email=None, display_name="ana@example.com"),
                   ProvenIdentity("eip155:1", "0x" + "ab" * 20, "wallet"),
                   ProvenIdentity("telegram", "99", "telegram", display_name="Ana")):
        assert svc.sign_in(proven, None).user_id != ana
    assert len(store.list_identities(ana)) == 1


def test_linking_while_signed_in_and_refusing_someone_elses(service) -> None:
    svc, store = service
    ana = svc.sign_in(ProvenIdentity("email", "ana@example.com", "email", email="ana@example.com"), None).user_id
    bob = svc.sign_in(ProvenIdentity("telegram", "7", "telegram"), None).user_id
    linked = svc.sign_in(ProvenIdentity("eip155:1", "0x" + "cd" * 20, "wallet"), ana)
    assert linked.user_id == ana and linked.linked
    with pytest.raises(ProofError, match="another account"):
        svc.sign_in(ProvenIdentity("telegram", "7", "telegram"), ana)
    assert {i.auth_method for i in store.list_identities(bob)} == {"telegram"}
    again = svc.sign_in(ProvenIdentity("eip155:1", "0x" + "cd" * 20, "wallet"), ana)  # already Ana's: fine
    assert again.user_id == ana


def test_sign_out_ends_the_session(client) -> None:
    sign_in_by_email(client, "bye@example.com")
    page = client.get("/account/identities")
    assert page.status_code == 200
    session = client.cookies.get("jarvis_session")
    out = client.post("/signout", data={"csrf_token": csrf(page.text)})
    assert out.status_code == 303
    client.cookies.set("jarvis_session", session)  # the old cookie, kept by someone: no longer valid
    assert client.get("/account/identities").status_code == 303


def test_link_and_unlink_are_audited_with_their_method(client, home: Path) -> None:
    import apsw

    sign_in_by_email(client, "audit@example.com")
    telegram_sign_in(client, 31337)
    page = client.get("/account/identities")
    ref = re.findall(r'name="ref" value="([^"]+)"', page.text)[1]
    client.post("/account/identities/unlink", data={"ref": ref, "csrf_token": csrf(page.text)})
    db = apsw.Connection(str(home / "jarvis.db"))
    for _ in range(40):
        rows = [f"{t} {a} {s}" for t, a, s in db.execute("SELECT tool, arguments, status FROM actions")]
        if any(r.startswith("identity:unlink") for r in rows):
            break
        time.sleep(0.05)
    assert 'identity:sign_in {"method": "email"} ok' in rows
    assert 'identity:link {"method": "telegram"} ok' in rows
    assert 'identity:unlink {"method": "telegram"} ok' in rows


def test_a_link_mailed_by_someone_else_never_links_to_the_victims_account(client) -> None:
    from oauth_support import email_link, follow_link

    # Mallory asks for a link to her own address (signed out) and gets the victim to press it.
    link = email_link(client, "mallory@example.com")
    client.cookies.clear()
    sign_in_by_email(client, "victim@example.com")
    pressed = follow_link(client, link)
    assert pressed.status_code == 303
    # The victim's browser is now signed in as Mallory's own account (plainly), and the victim's account
    # did not gain Mallory's address: she cannot sign in to it.
    client.cookies.clear()
    sign_in_by_email(client, "victim@example.com")
    assert re.findall(r'data-method="(\w+)"', client.get("/account/identities").text) == ["email"]
    assert "v*****@example.com" in client.get("/account/identities").text


def test_a_link_asked_for_while_signed_in_links_the_address(client) -> None:
    assert telegram_sign_in(client, 2024).status_code == 303
    assert sign_in_by_email(client, "mine@example.com").status_code == 303
    assert sorted(re.findall(r'data-method="(\w+)"', client.get("/account/identities").text)) == ["email", "telegram"]
