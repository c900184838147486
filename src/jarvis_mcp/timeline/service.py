"""get_client_history: one timeline per contact, newest first, from the recorded links (memories,
conversations, sent email, events, calls) plus the inbox, asked at read time by the contact's addresses
(received mail is never copied into the store). Read-only; bound to one user; no MCP imports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from jarvis_mcp.errors import InvalidInput, JarvisError
from jarvis_mcp.inbox.service import NO_INBOX
from jarvis_mcp.ports import ProviderFailure
from jarvis_mcp.timeline.models import ClientHistory, HistoryItem
from jarvis_mcp.timeline.ports import KINDS, InteractionRecord, TimelineSources
from jarvis_mcp.timeline.recorder import party_key

if TYPE_CHECKING:
    from jarvis_mcp.contacts.models import ContactSearchResult
    from jarvis_mcp.contacts.service import ContactService
    from jarvis_mcp.inbox.service import InboxService

MAX_LIMIT = 100
MAX_PARTICIPANTS = 20
SNIPPET = 120
#: The kinds a caller may ask for: the stored ones ("email" = sent) and the inbox's.
HISTORY_KINDS = ("memory", "conversation", "email_sent", "email_received", "event", "call")
_STORED = {"email_sent": "email"}


def _instant(field: str, value: str | None, zone: ZoneInfo) -> float | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(field, f"must be an ISO 8601 date or date-time, e.g. 2026-05-01 (got {value!r})") from None
    return (when if when.tzinfo else when.replace(tzinfo=zone)).timestamp()


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[:SNIPPET - 1] + "…"


class TimelineService:
    def __init__(self, user_id: str, store: TimelineSources, *, contacts: Callable[[], ContactService],
                 inbox: Callable[[], InboxService] | None = None, timezone: str | None = None) -> None:
        self.user_id = user_id
        self.store = store
        self._contacts = contacts
        self._inbox = inbox
        self.zone = ZoneInfo(timezone or "UTC")

    def parties(self, participants: list[str] | None, field: str = "participants") -> list[str]:
        """Who explicitly took part, resolved by the one contact rule (never guessed from free text): a
        contact's id, or the raw address or number of someone who is no contact. Raises naming the field."""
        if not participants:
            return []
        if len(participants) > MAX_PARTICIPANTS:
            raise InvalidInput(field, f"at most {MAX_PARTICIPANTS} people")
        contacts = self._contacts()
        out = []
        for i, text in enumerate(participants):
            found = contacts.resolve(text, "any", field=f"{field}[{i}]")
            out.append(found.contact.id if found.contact else found.handle)
        return list(dict.fromkeys(out))

    def with_last_contact(self, result: ContactSearchResult) -> ContactSearchResult:
        """Each hit says when the person was last in touch and how (one query for every hit)."""
        owners = {party_key(p): hit.id for hit in result.hits for p in (hit.id, *hit.emails, *hit.phones)}
        last: dict[str, InteractionRecord] = {}
        for party, record in self.store.interaction_last(self.user_id, list(owners)).items():
            owner = owners.get(party)
            if owner and (owner not in last or record.at > last[owner].at):
                last[owner] = record
        hits = [hit.model_copy(update={
            "last_contact_at": datetime.fromtimestamp(last[hit.id].at, self.zone),
            "last_contact_kind": "email_sent" if last[hit.id].kind == "email" else last[hit.id].kind,
        }) if hit.id in last else hit for hit in result.hits]
        return result.model_copy(update={"hits": hits})

    def history(self, contact: str, since: str | None = None, until: str | None = None,
                kinds: list[str] | None = None, limit: int = 20) -> ClientHistory:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT} (got {limit})")
        wanted = list(dict.fromkeys(kinds)) if kinds else list(HISTORY_KINDS)
        unknown = [k for k in wanted if k not in HISTORY_KINDS]
        if unknown:
            raise InvalidInput("kinds", f"unknown {unknown}; use any of {list(HISTORY_KINDS)}")
        start, end = _instant("since", since, self.zone), _instant("until", until, self.zone)
        if start is not None and end is not None and start > end:
            raise InvalidInput("since", "must not be after until")
        resolved = self._contacts().resolve(contact, "any", field="contact")
        person = resolved.contact
        parties = [person.id, *person.emails, *person.phones] if person else [resolved.handle]
        addresses = sorted({p.lower() for p in parties if "@" in p})
        stored = [_STORED.get(k, k) for k in wanted if k != "email_received" and _STORED.get(k, k) in KINDS]
        rows = self.store.interaction_list(self.user_id, [party_key(p) for p in parties], stored, start, end, limit)
        live = {m.id: m.text for m in self.store.memories_by_id(self.user_id, [r.ref for r in rows if r.kind == "memory"])}
        seen: set[tuple[str, str]] = set()
        items: list[tuple[float, HistoryItem]] = []
        for r in rows:
            kind = "email_sent" if r.kind == "email" else r.kind
            if (kind, r.ref) in seen or (kind == "memory" and r.ref not in live):  # twice linked; forgotten
                continue
            seen.add((kind, r.ref))
            text = live[r.ref] if kind == "memory" else r.summary
            items.append((r.at, HistoryItem(id=r.ref, kind=kind, at=self._iso(r.at), snippet=_snippet(text))))
        sources = ["recorded links: " + ", ".join(k for k in wanted if k != "email_received")]
        if "email_received" in wanted:
            received, note = self._received(addresses, start, end, limit)
            items += received
            sources.append(note)
        items.sort(key=lambda pair: pair[0], reverse=True)
        return ClientHistory(contact_id=person.id if person else None,
                             contact_name=person.name if person else resolved.handle,
                             items=[item for _, item in items[:limit]], sources=sources)

    def _received(self, addresses: list[str], start: float | None, end: float | None,
                  limit: int) -> tuple[list[tuple[float, HistoryItem]], str]:
        if self._inbox is None:
            return [], "received email: no inbox configured (JARVIS_INBOX)"
        if not addresses:
            return [], "received email: the contact has no email address"
        out = []
        try:
            inbox = self._inbox()
            for address in addresses[:3]:
                for hit in inbox.search(sender=address, limit=min(limit, 50)).emails:
                    when = datetime.fromisoformat(hit.date).timestamp() if hit.date else 0.0
                    if (start is None or when >= start) and (end is None or when <= end):
                        text = f"{hit.subject} — {hit.snippet}" if hit.snippet else hit.subject
                        out.append((when, HistoryItem(id=hit.id, kind="email_received", at=self._iso(when),
                                                      snippet=_snippet(text))))
        except (JarvisError, ProviderFailure) as exc:
            if str(exc) == NO_INBOX:
                return [], "received email: no inbox configured (JARVIS_INBOX)"
            return [], f"received email: could not be read ({exc})"
        return out, f"received email (inbox, by {min(len(addresses), 3)} address(es))"

    def _iso(self, at: float) -> str:
        return datetime.fromtimestamp(at, self.zone).isoformat(timespec="minutes")
