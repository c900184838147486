"""`jarvis-mcp connect google` from a terminal, against a fake Google served on 127.0.0.1: with a browser on
this machine (the redirect arrives), without one (the address is printed, the answer pasted back)."""

from __future__ import annotations

import io
import json
import re
import threading
import webbrowser
from pathlib import Path

import httpx2
import pytest
from fakes_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidcIssuer, served_issuer
from servers import free_port

from jarvis_mcp import bootstrap, cli_data
from jarvis_mcp.identity import google_loopback
from jarvis_mcp.identity.google import GoogleOidc
from jarvis_mcp.identity.proofs import ProofError

URL = re.compile(r"^  (http://127\.0\.0\.1:\d+/o/oauth2/v2/auth\?\S+)$", re.M)


@pytest.fixture
def fake():
    with served_issuer(free_port()) as issuer:
        yield issuer


@pytest.fixture
def oidc(fake: FakeOidcIssuer) -> GoogleOidc:
    return GoogleOidc(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, issuer=fake.issuer)


def never_types() -> str:
    threading.Event().wait(30)  # a person who never types: the daemon thread just stays blocked
    return ""


def real_browser(url: str) -> bool:
    """A browser on this machine: follows Google's redirect to the loopback listener for real."""
    with httpx2.Client(follow_redirects=True, timeout=10) as browser:
        page = browser.get(url)
    assert page.status_code == 200 and "close this tab" in page.text
    return True


def person_pasting(err: io.StringIO, fake: FakeOidcIssuer, *, bare_code: bool = False):
    """Reads the printed address, approves at Google elsewhere, and pastes where the browser ended."""

    def read_line() -> str:
        found = URL.search(err.getvalue())
        assert found, err.getvalue()
        ended_on = fake.approve(found.group(1))  # never delivered to the listener: another machine's browser
        if bare_code:
            return re.search(r"code=([^&]+)", ended_on).group(1) + "\n"
        return ended_on + "\n"

    return read_line


def test_with_a_browser_here_the_redirect_finishes_it(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    err = io.StringIO()
    result = google_loopback.consent_in_terminal(oidc, err=err, read_line=never_types, open_browser=real_browser)
    assert result.credentials is not None and result.credentials["refresh_token"] in fake.refresh_tokens
    assert result.identity.email == "ana.garcia@example.com"
    # The loopback redirect URI (RFC 8252), and offline access for a refresh token.
    grant = fake.token_requests[-1]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", grant["redirect_uri"])
    assert "No browser" not in err.getvalue()


def test_without_a_browser_the_address_is_printed_and_the_answer_pasted(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    err = io.StringIO()
    result = google_loopback.consent_in_terminal(oidc, err=err, read_line=person_pasting(err, fake),
                                                 open_browser=lambda url: False)
    assert result.credentials is not None
    said = err.getvalue()
    assert "open this address in a browser" in said and "No browser could be started here" in said
    assert "paste that whole address here" in said


def test_a_bare_pasted_code_also_works(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    err = io.StringIO()
    result = google_loopback.consent_in_terminal(oidc, err=err, read_line=person_pasting(err, fake, bare_code=True),
                                                 open_browser=lambda url: False)
    assert result.credentials is not None


def test_an_address_from_another_attempt_is_refused(oidc: GoogleOidc, fake: FakeOidcIssuer) -> None:
    err = io.StringIO()
    paste = person_pasting(err, fake)

    def stale() -> str:
        return re.sub(r"state=[^&\n]+", "state=someone-else", paste())

    with pytest.raises(ProofError, match="does not belong"):
        google_loopback.consent_in_terminal(oidc, err=err, read_line=stale, open_browser=lambda url: False)


def test_no_answer_times_out_with_a_clear_message(oidc: GoogleOidc) -> None:
    with pytest.raises(ValueError, match="no answer from Google"):
        google_loopback.consent_in_terminal(oidc, err=io.StringIO(), read_line=lambda: "",
                                            open_browser=lambda url: False, timeout_s=0.3)


def test_no_browser_on_a_linux_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert google_loopback.browser_available() is False
    monkeypatch.setenv("DISPLAY", ":0")
    assert google_loopback.browser_available() is True


@pytest.mark.parametrize(("content", "why"), [
    ("not json", "cannot read"),
    ('{"installed": {"client_id": "cid"}}', "not a Google OAuth client file"),
    ("[]", "not a Google OAuth client file"),
])
def test_a_bad_client_file_is_named(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "client.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=why):
        google_loopback.client_from_secrets(path)


def test_connect_google_on_a_machine_whose_browser_fails(fake: FakeOidcIssuer, settings_for, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The issue's bug: `webbrowser.Error` was a traceback. Now the command prints the address and finishes."""
    secrets = tmp_path / "client_secret.json"
    secrets.write_text(json.dumps({"installed": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                 "redirect_uris": ["http://localhost"]}}))

    def no_browser(*args: object, **kwargs: object) -> bool:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setenv("DISPLAY", ":99")  # so the command does try a browser, and meets the failure
    monkeypatch.setattr(webbrowser, "open", no_browser)

    class Terminal:
        def readline(self) -> str:
            printed = capsys.readouterr().err
            found = URL.search(printed)
            assert found, printed
            return fake.approve(found.group(1)) + "\n"

    monkeypatch.setattr("sys.stdin", Terminal())
    settings = settings_for("local", google_issuer=fake.issuer)
    assert cli_data.connect_google(settings, secrets) == 0
    out = capsys.readouterr()
    assert "connected Google Contacts" in out.out and "Google answered for ana.garcia@example.com" in out.err
    rt = bootstrap.open_runtime(settings)  # the embedder the command itself opened the store with
    try:
        stored = rt.scope_for(rt.local_user_id()).contacts.credentials.load("google")
    finally:
        rt.close()
    assert stored is not None and stored["refresh_token"] in fake.refresh_tokens
    assert stored["client_id"] == CLIENT_ID and "gmail.send" in " ".join(stored["scopes"])
    assert stored["refresh_token"] not in out.out + out.err


def test_connect_google_reports_a_refusal_without_a_traceback(fake: FakeOidcIssuer, settings_for, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    secrets = tmp_path / "client_secret.json"
    secrets.write_text(json.dumps({"installed": {"client_id": CLIENT_ID, "client_secret": "wrong"}}))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)

    class Terminal:
        def readline(self) -> str:
            return fake.approve(URL.search(capsys.readouterr().err).group(1)) + "\n"

    monkeypatch.setattr("sys.stdin", Terminal())
    assert cli_data.connect_google(settings_for("local", google_issuer=fake.issuer), secrets) == 1
    assert "jarvis-mcp: Google refused the sign-in (invalid_client)" in capsys.readouterr().err
