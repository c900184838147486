"""The Google People adapter against the exact HTTP requests the People API would receive (HttpMockSequence),
and the contacts service syncing through it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.http import HttpMockSequence

from jarvis_mcp import bootstrap
from jarvis_mcp.adapters.google_people import PERSON_FIELDS, GooglePeopleSource, authorized_user_info
from jarvis_mcp.contacts.ports import ContactSourceError
from jarvis_mcp.errors import JarvisError

TOKEN_URI = "https://oauth2.googleapis.com/token"
LIST_URL = "https://people.googleapis.com/v1/people/me/connections"
INFO = {"refresh_token": "refresh-1", "client_id": "client-1.apps.googleusercontent.com", "client_secret": "cs-1",
        "token_uri": TOKEN_URI}


def token(value: str = "access-1") -> tuple[dict[str, str], str]:
    return {"status": "200"}, json.dumps({"access_token": value, "expires_in": 3600, "token_type": "Bearer"})


def page(people: list[dict[str, Any]], *, next_page: str | None = None, sync: str | None = None,
         total: int | None = None) -> tuple[dict[str, str], str]:
    body: dict[str, Any] = {"connections": people}
    if next_page:
        body["nextPageToken"] = next_page
    if sync:
        body["nextSyncToken"] = sync
    if total is not None:
        body["totalItems"] = total
    return {"status": "200"}, json.dumps(body)


def error(status: int, reason: str = "", headers: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    body = {"error": {"code": status, "message": reason or "error", "status": "X",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]}}
    return {"status": str(status), **(headers or {})}, json.dumps(body)


def person(n: int, name: str, *, phone: str | None = None, email: str | None = None, deleted: bool = False,
           **extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"resourceName": f"people/c{n}", "etag": f"e{n}"}
    if deleted:
        p["metadata"] = {"deleted": True}
        return p
    p["names"] = [{"displayName": name, "metadata": {"primary": True}}]
    if phone:
        p["phoneNumbers"] = [{"value": phone}]
    if email:
        p["emailAddresses"] = [{"value": email}]
    p.update(extra)
    return p


def source(http: HttpMockSequence, sleeps: list[float] | None = None, **kwargs: Any) -> GooglePeopleSource:
    record = sleeps if sleeps is not None else []
    return GooglePeopleSource.from_authorized_user_info(INFO, http=http, sleep=record.append, rand=lambda: 1.0, **kwargs)


def requests_made(http: HttpMockSequence) -> list[tuple[str, str, dict[str, list[str]], dict[str, str]]]:
    """(method, url without query, query params, headers) for every request sent."""
    out = []
    for uri, method, _body, headers in http.request_sequence:
        parts = urlsplit(uri)
        out.append((method, f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query),
                    {k.lower(): v for k, v in (headers or {}).items()}))
    return out


def list_params(page_size: int = 2, **extra: str) -> dict[str, list[str]]:
    params = {"personFields": [PERSON_FIELDS], "pageSize": [str(page_size)], "requestSyncToken": ["true"], "alt": ["json"]}
    params.update({k: [v] for k, v in extra.items()})
    return params


# -- the adapter ----------------------------------------------------------------------------------


def test_full_sync_pages_with_the_exact_requests() -> None:
    http = HttpMockSequence([
        token("access-1"),
        page([person(1, "María García", phone="612 345 678")], next_page="p2", total=2),
        page([person(2, "John Smith", email="john@x.com")], sync="sync-1", total=2),
    ])
    pages = list(source(http, page_size=2).pages(None))
    assert [p.full for p in pages] == [True, True]
    assert [p.next_sync_token for p in pages] == [None, "sync-1"] and pages[0].total == 2
    assert [c.name for p in pages for c in p.contacts] == ["María García", "John Smith"]
    sent = requests_made(http)
    assert sent[0][:2] == ("POST", TOKEN_URI)
    body = parse_qs(http.request_sequence[0][2].decode() if isinstance(http.request_sequence[0][2], bytes)
                    else http.request_sequence[0][2])
    assert body == {"grant_type": ["refresh_token"], "client_id": [INFO["client_id"]],
                    "client_secret": [INFO["client_secret"]], "refresh_token": ["refresh-1"],
                    "scope": ["https://www.googleapis.com/auth/contacts.readonly"]}
    assert sent[1][:3] == ("GET", LIST_URL, list_params())
    assert sent[2][:3] == ("GET", LIST_URL, list_params(pageToken="p2"))
    assert sent[1][3]["authorization"] == "Bearer access-1"


def test_incremental_sync_sends_the_token_and_reports_deletions() -> None:
    http = HttpMockSequence([
        token(), page([person(1, "María G."), person(3, "", deleted=True)], sync="sync-2", total=5),
    ])
    [only] = list(source(http).pages("sync-1"))
    assert only.full is False and only.next_sync_token == "sync-2"
    assert [(c.source_id, c.deleted) for c in only.contacts] == [("people/c1", False), ("people/c3", True)]
    assert requests_made(http)[1][2] == list_params(page_size=500, syncToken="sync-1")


@pytest.mark.parametrize("expired", [error(410, "EXPIRED_SYNC_TOKEN"), error(400, "EXPIRED_SYNC_TOKEN")])
def test_expired_sync_token_falls_back_to_a_full_sync(expired: tuple[dict[str, str], str]) -> None:
    http = HttpMockSequence([token(), expired, page([person(1, "Ana")], next_page="p2"), page([], sync="fresh")])
    pages = list(source(http).pages("old-token"))
    assert [p.full for p in pages] == [True, True] and pages[-1].next_sync_token == "fresh"
    sent = requests_made(http)
    assert sent[1][2] == list_params(page_size=500, syncToken="old-token")
    assert sent[2][2] == list_params(page_size=500)  # the full listing: no syncToken
    assert sent[3][2] == list_params(page_size=500, pageToken="p2")


def test_401_refreshes_the_access_token_and_retries() -> None:
    creds = Credentials(token="stale", refresh_token="refresh-1", client_id="c", client_secret="s", token_uri=TOKEN_URI)
    http = HttpMockSequence([error(401, "UNAUTHENTICATED"), token("fresh"), page([person(1, "Ana")], sync="s")])
    pages = list(GooglePeopleSource(creds, http=http, sleep=lambda s: None).pages(None))
    assert len(pages) == 1
    sent = requests_made(http)
    assert [s[:2] for s in sent] == [("GET", LIST_URL), ("POST", TOKEN_URI), ("GET", LIST_URL)]
    assert sent[0][3]["authorization"] == "Bearer stale" and sent[2][3]["authorization"] == "Bearer fresh"
    assert sent[0][2] == sent[2][2]


def test_429_and_5xx_are_retried_with_capped_backoff_and_jitter() -> None:
    sleeps: list[float] = []
    http = HttpMockSequence([
        token(), error(429, "RATE_LIMIT_EXCEEDED"), error(503), error(500, headers={"retry-after": "7"}),
        page([person(1, "Ana")], sync="s"),
    ])
    pages = list(source(http, sleeps, base_delay=0.5, max_delay=4.0).pages(None))
    assert len(pages) == 1
    # rand() is pinned to 1.0 here: the delays are the caps 0.5, 1, 2; Retry-After 7 is honoured up to max 4.
    assert sleeps == [0.5, 1.0, 4.0]
    sent = requests_made(http)
    assert len(sent) == 5 and all(s[2] == list_params(page_size=500) for s in sent[1:])


def test_jitter_spreads_the_delays() -> None:
    sleeps: list[float] = []
    http = HttpMockSequence([token(), error(503), error(503), page([], sync="s")])
    list(GooglePeopleSource.from_authorized_user_info(INFO, http=http, sleep=sleeps.append, rand=lambda: 0.25,
                                                      base_delay=2.0).pages(None))
    assert sleeps == [0.5, 1.0]


def test_retries_are_bounded() -> None:
    sleeps: list[float] = []
    http = HttpMockSequence([token()] + [error(503)] * 3)
    with pytest.raises(ContactSourceError, match="gave up after 3 attempts, last: HTTP 503") as raised:
        list(source(http, sleeps, max_attempts=3).pages(None))
    assert raised.value.auth is False and len(sleeps) == 2 and len(http.request_sequence) == 4


def test_revoked_refresh_token_is_an_auth_error() -> None:
    http = HttpMockSequence([({"status": "400"}, json.dumps({"error": "invalid_grant", "error_description": "revoked"}))])
    with pytest.raises(ContactSourceError) as raised:
        list(source(http).pages(None))
    assert raised.value.auth is True


@pytest.mark.parametrize(("status", "auth"), [(403, True), (404, False)])
def test_other_errors_are_not_retried(status: int, auth: bool) -> None:
    http = HttpMockSequence([token(), error(status, "PERMISSION_DENIED")])
    with pytest.raises(ContactSourceError) as raised:
        list(source(http).pages(None))
    assert raised.value.auth is auth and len(http.request_sequence) == 2


def test_person_fields_are_mapped() -> None:
    rich = person(
        7, "", phone=None,
        names=[{"displayName": "Old Name"}, {"displayName": "Dra. Lucía Pérez", "metadata": {"primary": True}}],
        phoneNumbers=[{"value": "612 345 678", "canonicalForm": "+34612345678"}, {"value": "+1 415 555 2671"}],
        emailAddresses=[{"value": "lucia@clinic.es"}], organizations=[{"name": "Clínica Sol", "title": "Dentist"}],
        biographies=[{"value": "Our family dentist"}],
    )
    http = HttpMockSequence([token(), page([rich], sync="s")])
    [c] = next(iter(source(http).pages(None))).contacts
    assert (c.name, c.phones, c.emails, c.company, c.role, c.notes) == (
        "Dra. Lucía Pérez", ("+34612345678", "+1 415 555 2671"), ("lucia@clinic.es",), "Clínica Sol", "Dentist",
        "Our family dentist")


def test_stored_info_has_the_refresh_token_but_no_access_token() -> None:
    creds = Credentials(token="access", refresh_token="refresh-1", client_id="c", client_secret="s",
                        token_uri=TOKEN_URI, scopes=["https://www.googleapis.com/auth/contacts.readonly"])
    info = authorized_user_info(creds)
    assert info["refresh_token"] == "refresh-1" and "token" not in info and "expiry" not in info
    with pytest.raises(ValueError, match="no refresh token"):
        authorized_user_info(Credentials(token="only-access"))


# -- the service syncing through the adapter ------------------------------------------------------


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch):
    """Queue HTTP responses for the next syncs; every source the server builds reads from this queue."""
    responses: list[tuple[dict[str, str], str]] = []
    made: list[HttpMockSequence] = []

    def make(provider: str, info: dict[str, object]) -> GooglePeopleSource:
        assert provider == "google" and info["refresh_token"] == "refresh-1"
        http = HttpMockSequence(responses)
        made.append(http)
        return GooglePeopleSource.from_authorized_user_info(info, http=http, sleep=lambda s: None, page_size=2)

    monkeypatch.setattr(bootstrap, "make_contact_source", make)
    return responses, made


def local_contacts(runtime):  # noqa: ANN001, ANN201
    rt = runtime("local")
    scope = rt.scope_for(rt.local_user_id())
    scope.account.set_profile(locale="es-ES")
    return rt, scope.contacts


def test_sync_full_then_incremental_then_expired(runtime, google) -> None:
    responses, made = google
    rt, contacts = local_contacts(runtime)
    assert contacts.sync().status == "not_connected"
    contacts.connect("google", INFO)

    responses += [token(), page([person(1, "María García", phone="612 345 678"), person(2, "John", email="j@x.com")],
                                next_page="p2", total=3),
                  page([person(3, "Bea", email="bea@x.com")], sync="sync-1", total=3)]
    progress: list[tuple[int, int | None]] = []
    first = contacts.sync(lambda done, total, msg: progress.append((done, total)))
    assert (first.status, first.full, first.added, first.updated, first.deleted) == ("synced", True, 3, 0, 0)
    assert progress == [(2, 3), (3, 3)]
    assert rt.store.get_sync_token(contacts.user_id, "google") == "sync-1"
    maria = contacts.get(contacts.search("maria").hits[0].id)
    assert (maria.source, maria.source_id, maria.phones) == ("google", "people/c1", ["+34612345678"])

    responses += [token(), page([person(1, "María García López", phone="612 345 678"), person(2, "", deleted=True)],
                                sync="sync-2")]
    second = contacts.sync()
    assert (second.full, second.added, second.updated, second.deleted) == (False, 0, 1, 1)
    assert requests_made(made[-1])[1][2]["syncToken"] == ["sync-1"]
    assert contacts.get(maria.id).name == "María García López"
    assert contacts.search("john").hits == []

    # Expired token: the full listing is the truth, so Bea (deleted in Google meanwhile) goes too.
    responses += [token(), error(410, "EXPIRED_SYNC_TOKEN"),
                  page([person(1, "María García López", phone="612 345 678")], sync="sync-3")]
    third = contacts.sync()
    assert (third.full, third.added, third.unchanged, third.deleted) == (True, 0, 1, 1)
    assert contacts.search("bea").hits == []
    assert rt.store.get_sync_token(contacts.user_id, "google") == "sync-3"


def test_sync_links_an_existing_manual_contact_instead_of_duplicating(runtime, google) -> None:
    responses, _ = google
    _, contacts = local_contacts(runtime)
    mine = contacts.save(name="María García", emails=["maria@acme.com"], notes="Met at the fintech meetup").contact
    contacts.connect("google", INFO)
    responses += [token(), page([person(1, "María García", email="MARIA@acme.com", phone="612 345 678")], sync="s")]
    result = contacts.sync()
    assert (result.added, result.updated) == (0, 1)
    linked = contacts.get(mine.id)
    assert (linked.source, linked.source_id, linked.phones, linked.notes) == (
        "google", "people/c1", ["+34612345678"], "Met at the fintech meetup")


def test_sync_failures_read_clearly(runtime, google) -> None:
    responses, _ = google
    _, contacts = local_contacts(runtime)
    contacts.connect("google", INFO)
    responses += [({"status": "400"}, json.dumps({"error": "invalid_grant"}))]
    with pytest.raises(JarvisError, match="connect google"):
        contacts.sync()
    responses += [token()] + [error(503)] * 6
    with pytest.raises(JarvisError, match="unavailable right now"):
        contacts.sync()
