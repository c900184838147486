"""Who a tool means when it is given a person: one rule for send_email, schedule_event, call_contact and
every later tool that reaches someone, so "Ana" is the same person (or the same refusal) in all of them.

In order:
1. a contact id: that contact, or "contact not found" (another user's id reads like a made-up one);
2. an email address or a phone number, normalised as contacts are stored (contacts/rules.py): the
   contact that has it, or nobody's (the tool then decides what a stranger's address or number needs);
3. a name, matched word by word, accents and case folded. Every word given must be a word of the
   contact's name, or the start of one (at least two letters; one letter only as an initial next to
   other words), each word of the name used once. A contact ranks by how its name matched: the whole
   name (any order) above every word whole, above some words only begun. The best rank wins; two
   contacts at the best rank are refused, both listed. A misspelt name matches nothing: it is refused
   with the names it resembles, because a guess could email or phone the wrong person.
The wanted channel (an email address, a phone number) comes from the contact found; a contact without
it is refused, never swapped for another contact that has one. `any` wants the person, not a channel
(analyze_sentiment reads what is known of them): a contact with no address or number is found too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from jarvis_mcp.contacts.ports import ContactRecord, ContactStore
from jarvis_mcp.contacts.rules import normalize_email, normalize_phone
from jarvis_mcp.errors import InvalidInput, NotFound
from jarvis_mcp.text import fold
from jarvis_mcp.untrusted import defuse

Want = Literal["email", "phone", "any"]

MAX_TEXT = 200
#: Contacts the lexical search hands over as candidates: far more than a name's namesakes.
SEARCH_DEPTH = 50
MAX_LISTED = 10
MAX_SUGGESTED = 3
WHOLE_NAME, WHOLE_WORDS, PREFIXES = 3, 2, 1

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_PHONE_LIKE = re.compile(r"^\(?\+?[\d\s().\-/]+$")  # "(+34) 612 34 56 78" too
_WORD = re.compile(r"\w+")
_APOSTROPHES = re.compile(r"['\u2019]")  # O'Brien is one word, typed with or without it
_LABEL = {"email": "email address", "phone": "phone number", "any": "email address or phone number"}
_GIVE = {"email": "an email address",
         "phone": "a phone number in international format such as +34 612 345 678",
         "any": "an email address or a phone number"}


@dataclass(frozen=True)
class Resolved:
    handle: str  # the email address (lower case) or E.164 number to use
    contact: ContactRecord | None  # None: an address or number that is no contact's


def name_words(text: str) -> list[str]:
    return _WORD.findall(_APOSTROPHES.sub("", fold(text)))


def rank(query: Sequence[str], name: str) -> int:
    """How well the query's words name this contact: WHOLE_NAME, WHOLE_WORDS, PREFIXES, or 0 for no match."""
    words = name_words(name)
    if not query or len(query) > len(words):
        return 0
    if sorted(query) == sorted(words):
        return WHOLE_NAME
    left = list(words)
    for w in query:
        if w not in left:
            break
        left.remove(w)
    else:
        return WHOLE_WORDS
    initials_ok = len(query) > 1

    def fits(w: str, word: str) -> bool:
        return word == w or (word.startswith(w) and (len(w) >= 2 or initials_ok))

    return PREFIXES if _assign(query, words, fits) else 0


def _assign(query: Sequence[str], words: Sequence[str], fits) -> bool:  # noqa: ANN001 - (str, str) -> bool
    """Whether every query word fits a different word of the name (bipartite matching, augmenting paths)."""
    owner: dict[int, int] = {}  # name word -> query word using it

    def place(q: int, seen: set[int]) -> bool:
        for n, word in enumerate(words):
            if n in seen or not fits(query[q], word):
                continue
            seen.add(n)
            if n not in owner or place(owner[n], seen):
                owner[n] = q
                return True
        return False

    return all(place(q, set()) for q in range(len(query)))


def _listed(records: Sequence[ContactRecord], want: Want, *, alphabetical: bool = True) -> str:
    """Names (defused: they are stored text) with their company, the wanted channel and the id."""
    ordered = sorted(records, key=lambda r: (fold(r.name), fold(r.company or ""), r.id)) if alphabetical else records
    parts = []
    for r in ordered[:MAX_LISTED]:
        who = defuse(r.name) + (f" ({defuse(r.company)})" if r.company else "")
        handles = _handles(r, want)
        parts.append(f"{who} <{handles[0]}> (id {r.id})" if handles else f"{who} (id {r.id}; no {_LABEL[want]})")
    more = len(ordered) - MAX_LISTED
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _handles(contact: ContactRecord, want: Want) -> tuple[str, ...]:
    return {"email": contact.emails, "phone": contact.phones}.get(want, contact.emails + contact.phones)


def _reach(field: str, contact: ContactRecord, want: Want) -> Resolved:
    handles = _handles(contact, want)
    if want == "any":
        return Resolved(handles[0] if handles else "", contact)
    if not handles:
        raise InvalidInput(field, f"the contact {defuse(contact.name)!r} has no {_LABEL[want]}; add one with "
                                  f"save_contact (contact_id {contact.id}) or give {_GIVE[want]}")
    return Resolved(handles[0], contact)


def resolve(store: ContactStore, user_id: str, region: str | None, text: str, want: Want, field: str) -> Resolved:
    """The person `text` means and the address or number to reach them by; InvalidInput naming `field`
    (or NotFound for a contact id) when nobody, or more than one contact, fits."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput(field, f"give a contact id, a contact's name, or {_GIVE[want]}")
    if len(text) > MAX_TEXT:
        raise InvalidInput(field, f"must be at most {MAX_TEXT} characters")
    if _UUID.match(text):
        found = store.contacts_by_id(user_id, [text])
        if not found:
            raise NotFound("contact", text)
        return _reach(field, found[0], want)
    if "@" in text or (_PHONE_LIKE.match(text) and sum(c.isdigit() for c in text) >= 3):
        return _by_handle(store, user_id, region, text, want, field)
    return _by_name(store, user_id, text, want, field)


def _by_handle(store: ContactStore, user_id: str, region: str | None, text: str, want: Want,
               field: str) -> Resolved:
    kind: Want = "email" if "@" in text else "phone"
    try:
        handle = normalize_email(text) if kind == "email" else normalize_phone(text, region)
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from None
    found = store.contacts_by_handles(user_id, [handle] if kind == "email" else [],
                                      [handle] if kind == "phone" else [])
    owners = list({rec.id: rec for _, rec in found}.values())
    if len(owners) > 1:
        raise InvalidInput(field, f"{handle} belongs to {len(owners)} contacts: {_listed(owners, want)}. "
                                  "Pass the contact id of the one you mean")
    if owners:
        return Resolved(handle, owners[0]) if want in (kind, "any") else _reach(field, owners[0], want)
    if want in (kind, "any"):
        return Resolved(handle, None)
    raise InvalidInput(field, f"no contact has the {_LABEL[kind]} {handle}; give {_GIVE[want]}, or a "
                              "contact's name or id")


def _by_name(store: ContactStore, user_id: str, text: str, want: Want, field: str) -> Resolved:
    query = name_words(text)
    matches = store.search_contacts(user_id, text, None, SEARCH_DEPTH)
    pool = {r.id: r for r in store.contacts_by_name(user_id, [fold(text)])}
    for m in matches:
        pool.setdefault(m.record.id, m.record)
    ranked = [(rank(query, r.name), r) for r in pool.values()]
    best = max((score for score, _ in ranked), default=0)
    if best == 0:
        near = [m.record for m in matches if "name" in m.matched][:MAX_SUGGESTED]
        hint = f" Did you mean: {_listed(near, want, alphabetical=False)}?" if near else ""
        raise InvalidInput(field, f"no contact is named {text!r}.{hint} Give {_GIVE[want]}, or save the contact "
                                  "first with save_contact")
    top = [r for score, r in ranked if score == best]
    if len(top) > 1:
        raise InvalidInput(field, f"{text!r} matches {len(top)} contacts: {_listed(top, want)}. Pass the contact "
                                  f"id (or the {_LABEL[want]}) of the one you mean")
    return _reach(field, top[0], want)
