"""The person's frequent contacts (the roadmap's buildUserContext): whom they email, meet and call.

Read from the outbox, where every email, event and call is written before it is attempted, with the
contact each recipient, attendee or callee resolved to. A contact ranks by how many of the recent actions
involve them, then by the latest one. Only contacts the person actually dealt with are listed: a freshly
imported address book has no frequent contacts yet, and none are made up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jarvis_mcp.actions.ports import ActionStore, OutboxRecord
from jarvis_mcp.contacts.ports import ContactRecord, ContactStore

RECENT_ACTIONS = 200  # how far back the outbox is read
_NOT_DONE = frozenset({"cancelled", "expired"})  # a request nobody confirmed is no interaction


@dataclass(frozen=True)
class FrequentContact:
    contact: ContactRecord
    interactions: int
    last_at: float


def _contact_ids(action: OutboxRecord) -> Iterator[str]:
    args: dict[str, Any] = action.arguments
    people = [*args.get("recipients", []), *args.get("attendees", [])]
    if args.get("contact_id"):
        people.append({"contact_id": args["contact_id"]})
    for person in people:
        if isinstance(person, dict) and person.get("contact_id"):
            yield str(person["contact_id"])


def frequent_contacts(user_id: str, actions: ActionStore, contacts: ContactStore, limit: int = 5) -> list[FrequentContact]:
    counts: dict[str, tuple[int, float]] = {}
    for action in actions.outbox_list(user_id, RECENT_ACTIONS):
        if action.status in _NOT_DONE:
            continue
        for cid in set(_contact_ids(action)):
            n, last = counts.get(cid, (0, 0.0))
            counts[cid] = (n + 1, max(last, action.created_at))
    best = sorted(counts, key=lambda c: (counts[c][0], counts[c][1]), reverse=True)
    # Contacts deleted since are skipped; a few spare ids cover them.
    found = {c.id: c for c in contacts.contacts_by_id(user_id, best[: limit * 2])}
    return [FrequentContact(found[c], *counts[c]) for c in best if c in found][:limit]
