"""What a valid contact is: phones in E.164 for the user's region, emails, names, and how two
descriptions of one person merge. Strict for save_contact (errors name the field), lenient for
imports and syncs (bad values are dropped and reported, the row is kept)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import phonenumbers

from jarvis_mcp.contacts.models import Contact, ContactHit, ContactRef, VoiceAgent
from jarvis_mcp.contacts.ports import ContactRecord, ContactWrite
from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.text import MAX_TAGS, clean_tags, fold, from_epoch

MAX_NAME = 200
MAX_FIELD = 200
MAX_NOTES = 5_000
MAX_HANDLES = 20
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+$")
_REGION = re.compile(r"^[A-Za-z]{2}$")
SOURCES = ("manual", "google", "import")


def contact_uri(contact_id: str) -> str:
    return f"jarvis://me/contacts/{contact_id}"


def to_contact(rec: ContactRecord) -> Contact:
    agent = None
    if rec.agent_id or rec.voice or rec.personality:
        agent = VoiceAgent(agent_id=rec.agent_id, voice=rec.voice, personality=rec.personality)
    return Contact(
        id=rec.id, name=rec.name, emails=list(rec.emails), phones=list(rec.phones), company=rec.company,
        role=rec.role, tags=list(rec.tags), notes=rec.notes, relationship=rec.relationship,
        source=rec.source,  # type: ignore[arg-type]
        source_id=rec.source_id, voice_agent=agent,
        created_at=from_epoch(rec.created_at), updated_at=from_epoch(rec.updated_at),
        uri=contact_uri(rec.id),
    )


def to_hit(rec: ContactRecord, score: float, matched: list[str]) -> ContactHit:
    return ContactHit(
        id=rec.id, name=rec.name, emails=list(rec.emails), phones=list(rec.phones), company=rec.company,
        role=rec.role, relationship=rec.relationship, tags=list(rec.tags), notes=rec.notes, uri=contact_uri(rec.id),
        score=score, matched=matched,  # type: ignore[arg-type]
    )


def ref(rec: ContactRecord, why: str | None = None) -> ContactRef:
    return ContactRef(id=rec.id, name=rec.name, uri=contact_uri(rec.id), why=why)


def region_from_locale(locale: str | None) -> str | None:
    """es-ES -> ES, en_US -> US, zh-Hant-TW -> TW; a bare language (es) has no region."""
    if not locale:
        return None
    for part in re.split(r"[-_]", locale)[1:]:
        if _REGION.match(part) and part.upper() in phonenumbers.SUPPORTED_REGIONS:
            return part.upper()
    return None


def normalize_phone(raw: str, region: str | None) -> str:
    """E.164, or ValueError with a reason a person can act on."""
    text = raw.strip()
    if not text:
        raise ValueError("is empty")
    try:
        number = phonenumbers.parse(text, region if not text.startswith("+") else None)
    except phonenumbers.NumberParseException:
        if not text.startswith("+") and not region:
            raise ValueError(
                f"{raw!r} has no country code and no region is known; write it as +<country code> ... "
                "(or set the profile locale, e.g. es-ES)"
            ) from None
        raise ValueError(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        where = f" for region {region}" if region and not text.startswith("+") else ""
        raise ValueError(f"{raw!r} is not a valid phone number{where}; use international format, e.g. +34 612 345 678")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    text = raw.strip().strip("<>").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValueError(f"{raw!r} is not an email address")
    return text.lower()


@dataclass
class ContactInput:
    """A contact as given: None (or an empty list for imports) means 'not given'."""

    name: str | None = None
    emails: Sequence[str] | None = None
    phones: Sequence[str] | None = None
    company: str | None = None
    role: str | None = None
    tags: Sequence[str] | None = None
    notes: str | None = None
    relationship: str | None = None
    source: str = "manual"
    source_id: str | None = None


@dataclass
class Clean:
    name: str | None
    emails: tuple[str, ...] | None
    phones: tuple[str, ...] | None
    company: str | None
    role: str | None
    tags: tuple[str, ...] | None
    notes: str | None
    relationship: str | None
    source: str
    source_id: str | None
    name_is_fallback: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def handles(self) -> list[str]:
        return [*(self.emails or ()), *(self.phones or ())]


def _text(fieldname: str, value: str | None, limit: int, strict: bool, warnings: list[str]) -> str | None:
    if value is None:
        return None
    value = " ".join(value.replace("\x00", "").split()) if fieldname != "notes" else value.replace("\x00", "").strip()
    if not value:
        if strict and fieldname == "name":
            raise InvalidInput(fieldname, "must not be empty")
        return None
    if len(value) > limit:
        if strict:
            raise InvalidInput(fieldname, f"must be at most {limit} characters (got {len(value)})")
        warnings.append(f"{fieldname} cut to {limit} characters")
        value = value[:limit]
    return value


def clean(given: ContactInput, region: str | None, *, strict: bool) -> Clean:
    """Validate and normalise. strict: raise InvalidInput naming the field; else drop bad values with a warning."""
    warnings: list[str] = []
    if given.source not in SOURCES:
        raise InvalidInput("source", f"must be one of {', '.join(SOURCES)}")
    name = _text("name", given.name, MAX_NAME, strict, warnings)

    def handles(fieldname: str, values: Sequence[str] | None, norm) -> tuple[str, ...] | None:  # noqa: ANN001
        if values is None:
            return None
        out: list[str] = []
        for i, raw in enumerate(values):
            if not raw or not raw.strip():
                continue
            try:
                value = norm(raw)
            except ValueError as exc:
                if strict:
                    raise InvalidInput(f"{fieldname}[{i}]", str(exc)) from None
                warnings.append(f"{fieldname}: {exc}")
                continue
            if value not in out:
                out.append(value)
        if len(out) > MAX_HANDLES:
            if strict:
                raise InvalidInput(fieldname, f"at most {MAX_HANDLES}")
            warnings.append(f"{fieldname}: kept the first {MAX_HANDLES}")
            out = out[:MAX_HANDLES]
        return tuple(out)

    emails = handles("emails", given.emails, normalize_email)
    phones = handles("phones", given.phones, lambda raw: normalize_phone(raw, region))
    tags: tuple[str, ...] | None = None
    if given.tags is not None:
        if strict:
            tags = clean_tags("tags", list(given.tags))
        else:
            kept: list[str] = []
            for tag in given.tags:
                try:
                    kept.extend(clean_tags("tags", [tag]))
                except InvalidInput as exc:
                    warnings.append(exc.rule)
            tags = tuple(dict.fromkeys(kept))[:MAX_TAGS]
    company = _text("company", given.company, MAX_FIELD, strict, warnings)
    role = _text("role", given.role, MAX_FIELD, strict, warnings)
    relationship = _text("relationship", given.relationship, MAX_FIELD, strict, warnings)
    notes = _text("notes", given.notes, MAX_NOTES, strict, warnings)
    source_id = (given.source_id or "").strip() or None
    fallback = False
    if name is None and not strict:
        # A card with only an address or a company is still someone the user may look for.
        name = company or (emails[0] if emails else None) or (phones[0] if phones else None)
        fallback = name is not None
    return Clean(name, emails, phones, company, role, tags, notes, relationship, given.source, source_id,
                 fallback, warnings)


def names_compatible(a: str, b: str) -> bool:
    """Could these two names be one person? 'María' ~ 'Maria Garcia' yes; 'Pedro' ~ 'Ana López' no."""
    fa, fb = fold(a), fold(b)
    if not fa or not fb or "@" in fa or "@" in fb or fa.lstrip("+").isdigit() or fb.lstrip("+").isdigit():
        return True  # a placeholder name (an email or phone) says nothing about the person
    from rapidfuzz import fuzz  # imported here: ~90 ms that stdio start-up should not pay

    return fuzz.token_set_ratio(fa, fb) >= 75


def _union(old: Sequence[str], new: Sequence[str] | None, replace_lists: bool) -> tuple[str, ...]:
    if new is None:
        return tuple(old)
    if replace_lists:
        return tuple(new)
    return tuple(dict.fromkeys([*old, *new]))


def merged(existing: ContactRecord, c: Clean, *, replace_lists: bool = False, by_id: bool = False) -> ContactWrite:
    """The existing contact with what was given applied: given fields win, lists are added to.

    Found by email/phone rather than by id, a name says who the person is more than what to call them:
    "Maria" must not overwrite "María García", so only a name at least as complete replaces the stored one.
    """
    name = existing.name
    placeholder = "@" in existing.name or existing.name.lstrip("+").isdigit()
    fuller = len(c.name.split()) >= len(existing.name.split()) if c.name else False
    if c.name is not None and not c.name_is_fallback and (
            by_id or fuller or placeholder or not names_compatible(c.name, existing.name)):
        name = c.name
    source, source_id = existing.source, existing.source_id
    if c.source_id and existing.source_id is None:
        source, source_id = c.source, c.source_id  # linked to the provider from now on
    notes = c.notes if c.notes is not None else existing.notes
    return ContactWrite(
        id=existing.id, name=name,
        emails=_union(existing.emails, c.emails, replace_lists), phones=_union(existing.phones, c.phones, replace_lists),
        company=c.company if c.company is not None else existing.company,
        role=c.role if c.role is not None else existing.role,
        tags=_union(existing.tags, c.tags, replace_lists)[:MAX_TAGS],
        notes=notes,
        relationship=c.relationship if c.relationship is not None else existing.relationship,
        source=source, source_id=source_id, keep_vector=notes == existing.notes,
    )


def new_write(c: Clean) -> ContactWrite:
    assert c.name is not None
    return ContactWrite(
        id=None, name=c.name, emails=c.emails or (), phones=c.phones or (), company=c.company, role=c.role,
        tags=c.tags or (), notes=c.notes, relationship=c.relationship, source=c.source, source_id=c.source_id,
    )


def unchanged(existing: ContactRecord, w: ContactWrite) -> bool:
    return (w.name, w.emails, w.phones, w.company, w.role, w.tags, w.notes, w.relationship, w.source, w.source_id) == (
        existing.name, existing.emails, existing.phones, existing.company, existing.role, existing.tags,
        existing.notes, existing.relationship, existing.source, existing.source_id,
    )


def as_record(w: ContactWrite, like: ContactRecord | None = None) -> ContactRecord:
    """A pending write seen as a record, so later rows of the same batch can merge into it."""
    return ContactRecord(
        id=w.id or "", name=w.name, emails=w.emails, phones=w.phones, company=w.company, role=w.role, tags=w.tags,
        notes=w.notes, relationship=w.relationship, source=w.source, source_id=w.source_id,
        agent_id=like.agent_id if like else None, voice=like.voice if like else None,
        personality=like.personality if like else None,
        created_at=like.created_at if like else 0.0, updated_at=like.updated_at if like else 0.0,
    )


def with_vector(w: ContactWrite, vector) -> ContactWrite:  # noqa: ANN001 - numpy row or None
    return replace(w, notes_vector=vector, keep_vector=False)
