"""Google Contacts through the People API (google-api-python-client): the ContactSource port.

people.connections.list with personFields, paged; requestSyncToken on every call and syncToken for
incremental syncs; an expired sync token (410, or 400 EXPIRED_SYNC_TOKEN) restarts as a full listing.
A 401 is refreshed by google-auth's AuthorizedHttp with the stored refresh token; 429, 5xx and
transport errors are retried with capped exponential backoff and full jitter, a bounded number of times.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from jarvis_mcp.contacts.ports import ContactSourceError, SourceContact, SourcePage

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/contacts.readonly"]
PERSON_FIELDS = "names,emailAddresses,phoneNumbers,organizations,biographies,metadata"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class _ExpiredSyncToken(Exception):
    pass


def _first(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The primary entry of a People field list, else the first."""
    if not items:
        return {}
    for item in items:
        if item.get("metadata", {}).get("primary"):
            return item
    return items[0]


def to_source_contact(person: dict[str, Any]) -> SourceContact:
    name = _first(person.get("names"))
    org = _first(person.get("organizations"))
    bio = _first(person.get("biographies"))
    return SourceContact(
        source_id=person["resourceName"],
        deleted=bool(person.get("metadata", {}).get("deleted")),
        name=name.get("displayName") or " ".join(filter(None, (name.get("givenName"), name.get("familyName")))) or None,
        emails=tuple(e["value"] for e in person.get("emailAddresses", ()) if e.get("value")),
        # canonicalForm is Google's own E.164 reading of the number, when it could make one.
        phones=tuple(p.get("canonicalForm") or p["value"] for p in person.get("phoneNumbers", ()) if p.get("value")),
        company=org.get("name"),
        role=org.get("title"),
        notes=bio.get("value"),
    )


class GooglePeopleSource:
    provider = "google"

    def __init__(self, credentials: Credentials, *, http: Any = None, page_size: int = 500, max_attempts: int = 6,
                 base_delay: float = 1.0, max_delay: float = 32.0, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random) -> None:
        authed = AuthorizedHttp(credentials, http=http or httplib2.Http(timeout=30))
        self.service = build("people", "v1", http=authed, static_discovery=True, cache_discovery=False)
        self.page_size = page_size
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.rand = rand

    @classmethod
    def from_authorized_user_info(cls, info: dict[str, object], **kwargs: Any) -> GooglePeopleSource:
        return cls(Credentials.from_authorized_user_info(info, scopes=SCOPES), **kwargs)

    def pages(self, sync_token: str | None) -> Iterator[SourcePage]:
        full = sync_token is None
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {
                "resourceName": "people/me", "personFields": PERSON_FIELDS, "pageSize": self.page_size,
                "requestSyncToken": True,
            }
            if sync_token:
                params["syncToken"] = sync_token
            if page_token:
                params["pageToken"] = page_token
            try:
                resp = self._execute(self.service.people().connections().list(**params))
            except _ExpiredSyncToken:
                if sync_token is None:
                    raise ContactSourceError("Google rejected a full listing as an expired sync") from None
                log.info("Google sync token expired; falling back to a full sync")
                sync_token, page_token, full = None, None, True
                continue
            page_token = resp.get("nextPageToken")
            yield SourcePage(
                contacts=tuple(to_source_contact(p) for p in resp.get("connections", ())),
                full=full,
                total=resp.get("totalItems", resp.get("totalPeople")),
                next_sync_token=None if page_token else resp.get("nextSyncToken"),
            )
            if not page_token:
                return

    def _execute(self, request: Any) -> dict[str, Any]:
        for attempt in range(self.max_attempts):
            retry_after: float | None = None
            try:
                return request.execute(num_retries=0)
            except HttpError as exc:
                status = exc.resp.status
                body = exc.content or b""
                if status == 410 or (status == 400 and b"EXPIRED_SYNC_TOKEN" in body):
                    raise _ExpiredSyncToken from None
                if status in (401, 403):
                    raise ContactSourceError(f"Google answered {status} ({exc._get_reason()})", auth=True) from None
                if status not in _RETRY_STATUS:
                    raise ContactSourceError(f"Google answered {status} ({exc._get_reason()})") from None
                problem = f"HTTP {status}"
                header = exc.resp.get("retry-after")
                if header and header.isdigit():
                    retry_after = float(header)
            except RefreshError as exc:
                raise ContactSourceError(f"the refresh token was refused ({exc.args[0] if exc.args else 'refresh failed'})",
                                         auth=True) from None
            except (httplib2.HttpLib2Error, TransportError, OSError) as exc:
                problem = type(exc).__name__
            if attempt + 1 == self.max_attempts:
                raise ContactSourceError(f"gave up after {self.max_attempts} attempts, last: {problem}")
            # Full jitter: many clients retrying at once spread out instead of hammering in lockstep.
            delay = self.rand() * min(self.max_delay, self.base_delay * 2**attempt)
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.max_delay))
            log.info("Google People %s; retry %d in %.1f s", problem, attempt + 1, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")


def authorized_user_info(credentials: Credentials) -> dict[str, object]:
    """What is stored for the user: the refresh token and the client it belongs to, no access token."""
    if not credentials.refresh_token:
        raise ValueError("Google returned no refresh token; revoke the app's access in your Google account and retry")
    info = json.loads(credentials.to_json(strip=["token", "expiry"]))
    return {k: v for k, v in info.items() if v is not None}

