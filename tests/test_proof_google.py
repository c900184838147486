"""Google sign-in and connection through the real protocol, against a fake issuer with its own keys."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
from fakes_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidcIssuer, FakeUser, served_issuer
from servers import free_port

from jarvis_mcp.identity import google
from jarvis_mcp.identity.google import CONNECT_SCOPES, GoogleOidc, PendingAuth
from jarvis_mcp.identity.proofs import ProofError

CALLBACK = "https://jarvis.example.com/signin/google/callback"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"


@pytest.fixture
def fake() -> FakeOidcIssuer:
    return FakeOidcIssuer()


@pytest.fixture
def oidc(fake: FakeOidcIssuer) -> GoogleOidc:
    return GoogleOidc(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, issuer=fake.issuer,
                      transport=httpx2.ASGITransport(app=fake.app))


async def browser_at_google(fake: FakeOidcIssuer, url: str) -> dict[str, str]:
    """The browser follows our URL to the issuer's authorize endpoint and comes back: the callback's query."""
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake.app)) as browser:
        resp = await browser.get(url)
    assert resp.status_code == 302
    back = resp.headers["location"]
    assert back.startswith(CALLBACK + "?")
    return dict(parse_qsl(urlsplit(back).query))


async def sign_in(oidc: GoogleOidc, fake: FakeOidcIssuer, *, connect: bool = False) -> google.GoogleResult:
    url, pending = await oidc.start(CALLBACK, connect=connect)
    return await oidc.finish(pending, await browser_at_google(fake, url))


async def test_sign_in_proves_the_google_account(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    url, pending = await oidc.start(CALLBACK, login_hint="ana@example.com")
    params = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(f"{fake.issuer}/o/oauth2/v2/auth?")
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == google.code_challenge(pending.code_verifier) != pending.code_verifier
    assert params["scope"] == "openid email profile" and params["nonce"] == pending.nonce
    assert params["state"] == pending.state and params["redirect_uri"] == CALLBACK
    assert "access_type" not in params and params["login_hint"] == "ana@example.com"
    result = await oidc.finish(pending, await browser_at_google(fake, url))
    ident = result.identity
    assert (ident.issuer, ident.subject, ident.auth_method) == (fake.issuer, fake.user.sub, "google")
    assert ident.email == "ana.garcia@example.com" and ident.display_name == "Ana García"
    assert result.credentials is None and result.missing_scopes == ()
    sent = fake.token_requests[-1]
    assert sent["code_verifier"] == pending.code_verifier and sent["client_id"] == CLIENT_ID


async def test_an_english_name_and_an_unverified_email(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    fake.user = FakeUser(sub="42", email="jim@example.org", email_verified=False, name="Jim Smith")
    ident = (await sign_in(oidc, fake)).identity
    # Google does not vouch for this address: it must never join an account that has it.
    assert ident.email is None and ident.display_name == "Jim Smith" and ident.subject == "42"


async def test_email_verified_as_the_string_true_counts(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    fake.claim_overrides = {"email_verified": "true"}
    assert (await sign_in(oidc, fake)).identity.email == "ana.garcia@example.com"


@pytest.mark.parametrize(("overrides", "why"), [
    ({"nonce": "someone-elses-nonce"}, "does not belong to this sign-in"),
    ({"nonce": None}, "does not belong to this sign-in"),
    ({"aud": "another-client"}, "another application"),
    ({"aud": [CLIENT_ID, "another-client"], "azp": "another-client"}, "another application"),
    ({"iss": "https://evil.example"}, "another issuer"),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
    ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200}, "expired"),
    ({"sub": None}, "signature check"),
])
async def test_an_id_token_not_for_us_or_not_current_is_refused(oidc: GoogleOidc, fake: FakeOidcIssuer,
                                                                overrides: dict, why: str) -> None:
    fake.claim_overrides = overrides
    with pytest.raises(ProofError, match=why):
        await sign_in(oidc, fake)


@pytest.mark.parametrize("mode", ["none", "hs256", "foreign-key"])
async def test_an_unsigned_or_forged_id_token_is_refused(oidc: GoogleOidc, fake: FakeOidcIssuer, mode: str) -> None:
    fake.sign_mode = mode
    with pytest.raises(ProofError, match="signature check"):
        await sign_in(oidc, fake)


async def test_key_rotation_is_followed_through_the_jwks_kid(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    await sign_in(oidc, fake)
    assert fake.jwks_fetches == 1
    await sign_in(oidc, fake)
    assert fake.jwks_fetches == 1  # keys are cached while fresh
    fake.rotate(retire_old=True)
    assert (await sign_in(oidc, fake)).identity.subject == fake.user.sub
    assert fake.jwks_fetches == 2  # an unseen kid refetched the keys once


async def test_a_key_the_issuer_never_published_is_refused(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    await sign_in(oidc, fake)
    fake.unpublished.add(fake.rotate())
    with pytest.raises(ProofError, match="unknown key"):
        await sign_in(oidc, fake)


async def test_a_callback_from_another_browser_session_is_refused(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    url, pending = await oidc.start(CALLBACK)
    query = await browser_at_google(fake, url)
    _, other = await oidc.start(CALLBACK)
    with pytest.raises(ProofError, match="does not belong to this browser session"):
        await oidc.finish(other, query)
    assert fake.token_requests == []  # refused before the code was spent


async def test_a_callback_opened_in_another_browser_is_refused(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    """Login CSRF: an attacker's own callback URL, opened in the victim's browser, must not sign it in."""
    url, pending = await oidc.start(CALLBACK, binding="attacker-browser-csrf-cookie")
    assert "attacker-browser-csrf-cookie" not in pending.to_json()  # only its hash is kept
    query = await browser_at_google(fake, url)
    with pytest.raises(ProofError, match="does not belong to this browser session"):
        await oidc.finish(pending, query, binding="victim-browser-csrf-cookie")
    with pytest.raises(ProofError, match="does not belong to this browser session"):
        await oidc.finish(pending, query)
    assert fake.token_requests == []
    result = await oidc.finish(pending, query, binding="attacker-browser-csrf-cookie")
    assert result.identity.subject == fake.user.sub


async def test_a_refusal_at_google_is_reported(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    url, pending = await oidc.start(CALLBACK)
    query = dict(parse_qsl(urlsplit(fake.approve(url, deny=True)).query))
    with pytest.raises(ProofError, match="cancelled"):
        await oidc.finish(pending, query)


async def test_an_answer_naming_another_issuer_is_refused(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    url, pending = await oidc.start(CALLBACK)
    query = await browser_at_google(fake, url)
    with pytest.raises(ProofError, match="another sign-in provider"):
        await oidc.finish(pending, {**query, "iss": "https://evil.example"})


async def test_a_replayed_code_and_a_wrong_verifier_are_refused(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    url, pending = await oidc.start(CALLBACK)
    query = await browser_at_google(fake, url)
    await oidc.finish(pending, query)
    with pytest.raises(ProofError, match="invalid_grant"):
        await oidc.finish(pending, query)
    url, pending = await oidc.start(CALLBACK)
    query = await browser_at_google(fake, url)
    forged = PendingAuth(**{**pending.__dict__, "code_verifier": "x" * 64})
    with pytest.raises(ProofError, match="invalid_grant"):
        await oidc.finish(forged, query)


async def test_a_callback_without_a_code_is_refused(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    _, pending = await oidc.start(CALLBACK)
    with pytest.raises(ProofError, match="no sign-in code"):
        await oidc.finish(pending, {"state": pending.state})


async def test_a_wrong_client_secret_is_refused(fake: FakeOidcIssuer) -> None:
    oidc = GoogleOidc(client_id=CLIENT_ID, client_secret="wrong", issuer=fake.issuer,
                      transport=httpx2.ASGITransport(app=fake.app))
    with pytest.raises(ProofError, match="invalid_client"):
        await sign_in(oidc, fake)


async def test_a_discovery_document_for_another_issuer_is_refused(fake: FakeOidcIssuer) -> None:
    oidc = GoogleOidc(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, issuer="https://accounts.fake-google.test/x",
                      transport=httpx2.ASGITransport(app=fake.app))
    with pytest.raises(ProofError):
        await oidc.start(CALLBACK)


async def test_google_unreachable_is_a_clear_refusal() -> None:
    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("no route")

    oidc = GoogleOidc(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, transport=httpx2.MockTransport(down))
    with pytest.raises(ProofError, match="could not reach Google"):
        await oidc.start(CALLBACK)


def test_the_client_must_be_configured() -> None:
    with pytest.raises(ValueError, match="client_id"):
        GoogleOidc(client_id="", client_secret="x")


def test_pending_auth_survives_the_store() -> None:
    pending = google.new_pending(CALLBACK, connect=True)
    assert PendingAuth.from_json(pending.to_json()) == pending
    assert google.new_pending(CALLBACK).state != pending.state


# -- connecting Google for a signed-in person ---------------------------------------------------------


async def test_connect_asks_once_for_every_google_feature(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    from jarvis_mcp.adapters.google_calendar import SCOPES as CALENDAR
    from jarvis_mcp.adapters.google_people import SCOPES as PEOPLE
    from jarvis_mcp.adapters.mail_gmail import SCOPES as GMAIL

    url, pending = await oidc.start(CALLBACK, connect=True)
    params = dict(parse_qsl(urlsplit(url).query))
    asked = params["scope"].split()
    assert set(PEOPLE + CALENDAR + GMAIL) <= set(asked) and "openid" in asked
    assert "https://www.googleapis.com/auth/gmail.compose" in asked
    assert (params["access_type"], params["prompt"], params["include_granted_scopes"]) == ("offline", "consent", "true")
    result = await oidc.finish(pending, await browser_at_google(fake, url))
    info = result.credentials
    assert info is not None and result.missing_scopes == ()
    assert set(info) == {"refresh_token", "token_uri", "client_id", "client_secret", "scopes", "universe_domain",
                         "account"}
    assert info["refresh_token"] in fake.refresh_tokens and info["token_uri"] == f"{fake.issuer}/token"
    assert (info["client_id"], info["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    assert "access_token" not in str(info)


async def test_connected_credentials_open_every_google_adapter(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    from google.oauth2.credentials import Credentials

    from jarvis_mcp.adapters.google_calendar import GoogleCalendar
    from jarvis_mcp.adapters.google_people import GooglePeopleSource
    from jarvis_mcp.adapters.mail_gmail import GmailMailer

    info = (await sign_in(oidc, fake, connect=True)).credentials
    assert info is not None
    creds = Credentials.from_authorized_user_info(info)
    assert creds.refresh_token == info["refresh_token"] and set(creds.scopes) == set(info["scopes"])
    GmailMailer.from_authorized_user_info(info)
    assert GoogleCalendar.from_authorized_user_info(info).freebusy is True
    GooglePeopleSource.from_authorized_user_info(info)


async def test_a_scope_unticked_at_google_is_reported_and_its_adapter_says_so(oidc: GoogleOidc,
                                                                              fake: FakeOidcIssuer) -> None:
    from jarvis_mcp.adapters.mail_gmail import GmailMailer
    from jarvis_mcp.mail.ports import MailError

    fake.unticked = {GMAIL_SEND, "https://www.googleapis.com/auth/gmail.compose"}
    result = await sign_in(oidc, fake, connect=True)
    assert set(result.missing_scopes) == fake.unticked
    assert result.credentials is not None and GMAIL_SEND not in result.credentials["scopes"]
    with pytest.raises(MailError, match="not allowed sending"):
        GmailMailer.from_authorized_user_info(result.credentials)


async def test_scopes_granted_earlier_are_kept_incrementally(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    fake.unticked = {GMAIL_SEND}
    first = await sign_in(oidc, fake, connect=True)
    assert GMAIL_SEND in first.missing_scopes
    fake.unticked = set(CONNECT_SCOPES) - {GMAIL_SEND}  # the second time, only Gmail is ticked
    second = await sign_in(oidc, fake, connect=True)
    assert second.missing_scopes == ()  # include_granted_scopes: the earlier grants come back too


async def test_connect_without_a_refresh_token_is_refused(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    fake.give_refresh_token = False
    with pytest.raises(ProofError, match="no refresh token"):
        await sign_in(oidc, fake, connect=True)


async def test_stored_credentials_refresh_at_the_issuer_with_google_auth() -> None:
    """The stored shape is what google-auth refreshes with: its own HTTP against the issuer's token endpoint."""
    import google.auth.transport.requests
    from google.oauth2.credentials import Credentials

    with served_issuer(free_port()) as fake:
        oidc = GoogleOidc(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, issuer=fake.issuer)
        url, pending = await oidc.start(CALLBACK, connect=True)
        info = (await oidc.finish(pending, dict(parse_qsl(urlsplit(fake.approve(url)).query)))).credentials
        assert info is not None
        # google-auth always refreshes at Google's own token endpoint (it overrides a stored token_uri), so
        # the test points it back at the issuer that granted the token.
        creds = Credentials.from_authorized_user_info(info).with_token_uri(str(info["token_uri"]))
        creds.refresh(google.auth.transport.requests.Request())
        assert creds.token and creds.valid
        assert fake.token_requests[-1]["grant_type"] == "refresh_token"
