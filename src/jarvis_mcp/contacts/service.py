"""Contacts for one user: save (no silent duplicates), search, delete, import, Google sync."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from jarvis_mcp.account.credentials import CredentialService
from jarvis_mcp.contacts.models import (
    Contact,
    ContactPage,
    ContactRef,
    ContactSearchResult,
    DeleteContactResult,
    ImportIssue,
    ImportSummary,
    SaveContactResult,
    SyncResult,
)
from jarvis_mcp.contacts.ports import (
    ContactRecord,
    ContactSource,
    ContactSourceError,
    ContactStore,
    ContactWrite,
)
from jarvis_mcp.contacts.resolve import Resolved, Want, resolve
from jarvis_mcp.contacts.rules import (
    Clean,
    ContactInput,
    as_record,
    clean,
    contact_uri,
    merged,
    names_compatible,
    new_write,
    ref,
    to_contact,
    to_hit,
    unchanged,
    with_vector,
)
from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.ports import Embedder
from jarvis_mcp.text import clean_tags, clean_text, fold, keyword_terms

MAX_LIMIT = 50
PAGE_SIZE = 50
IMPORT_BATCH = 500
SEMANTIC_MIN_SIMILARITY = 0.4
CONNECT_HELP = (
    "Google Contacts is not connected for this user. On the machine that runs the server, run "
    "`jarvis-mcp connect google --client-secrets FILE` (FILE: an OAuth client of type 'Desktop app' "
    "downloaded from Google Cloud Console, with the People API enabled), then call sync_contacts again."
)

#: (done, total or None, message)
Progress = Callable[[int, int | None, str], None]
SourceFactory = Callable[[str, dict[str, object]], ContactSource]


@dataclass
class _Tally:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)
    seen_source_ids: set[str] = field(default_factory=set)


class ContactService:
    def __init__(self, user_id: str, store: ContactStore, embedder: Embedder, credentials: CredentialService,
                 *, region: str | None, sources: SourceFactory | None = None) -> None:
        self.user_id = user_id
        self.store = store
        self.embedder = embedder
        self.credentials = credentials
        self.region = region
        self.sources = sources

    # -- reading --------------------------------------------------------------------------------

    def _one(self, contact_id: str) -> ContactRecord:
        found = self.store.contacts_by_id(self.user_id, [contact_id]) if contact_id else []
        if not found:
            raise NotFound("contact", contact_id)
        return found[0]

    def get(self, contact_id: str) -> Contact:
        return to_contact(self._one(contact_id))

    def page(self, page: int = 1, size: int = PAGE_SIZE) -> ContactPage:
        if page < 1:
            raise InvalidInput("page", "must be 1 or more")
        total = self.store.count_contacts(self.user_id)
        records = self.store.list_contacts(self.user_id, (page - 1) * size, size)
        more = page * size < total
        return ContactPage(
            contacts=[to_contact(r) for r in records], page=page, page_size=size, total=total,
            next_page=f"jarvis://me/contacts/page/{page + 1}" if more else None,
        )

    def search(self, query: str, limit: int = 5, tags: list[str] | None = None) -> ContactSearchResult:
        query = clean_text("query", query, 200)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}")
        wanted = clean_tags("tags", tags) or None
        matches = self.store.search_contacts(self.user_id, query, wanted, limit)
        hits = [to_hit(m.record, m.score, list(m.matched)) for m in matches]
        if not any(m.coverage >= 0.5 for m in matches) and len(keyword_terms(query)) >= 2:
            # Descriptions ("the guy from the fintech meetup") rarely share words with the notes; only then
            # is the query worth a model run (~5 ms), which keeps name / phone / email lookups in ~1 ms.
            semantic = [
                to_hit(rec, round(sim, 4), ["semantic"])
                for rec, sim in self.store.nearest_contacts(self.user_id, self.embedder.embed([query])[0], wanted, limit)
                if sim >= SEMANTIC_MIN_SIMILARITY
            ]
            known = {h.id for h in semantic}
            hits = (semantic + [h for h in hits if h.id not in known])[:limit]
        return ContactSearchResult(query=query, hits=hits)

    def resolve(self, text: str, want: Want, *, field: str = "contact") -> Resolved:
        """The person a tool was given (a contact id, an email address, a phone number or a name) and the
        address or number to reach them by: the one rule every tool that reaches someone uses (resolve.py)."""
        return resolve(self.store, self.user_id, self.region, text, want, field)

    def current(self, contact_ids: Sequence[str]) -> dict[str, ContactRecord]:
        """The contacts as they are now, by id: what an action sealed earlier is re-checked against."""
        return {r.id: r for r in self.store.contacts_by_id(self.user_id, list(contact_ids))} if contact_ids else {}

    def complete(self, partial: str, limit: int = 20) -> list[ContactRecord]:
        """Contacts for argument completion: by name (fuzzy) when something is typed, else the first by name."""
        partial = partial.strip()[:100]
        if not partial:
            return self.store.list_contacts(self.user_id, 0, limit)
        return [m.record for m in self.store.search_contacts(self.user_id, partial, None, limit)]

    # -- writing --------------------------------------------------------------------------------

    def save(self, contact_id: str | None = None, name: str | None = None, emails: list[str] | None = None,
             phones: list[str] | None = None, company: str | None = None, role: str | None = None,
             tags: list[str] | None = None, notes: str | None = None, relationship: str | None = None,
             replace_lists: bool = False) -> SaveContactResult:
        c = clean(ContactInput(name, emails, phones, company, role, tags, notes, relationship), self.region, strict=True)
        if contact_id is not None:
            existing = self._one(contact_id)
            write = merged(existing, c, replace_lists=replace_lists, by_id=True)
            if unchanged(existing, write):
                return SaveContactResult(contact=to_contact(existing), created=False, reason="updated by id: nothing changed")
            others = self._handle_owners(c, exclude=existing.id)
            rec = self._write([write])[0]
            return SaveContactResult(contact=to_contact(rec), created=False, reason="updated by id",
                                     possible_duplicates=others)
        if not (c.name or c.handles):
            raise InvalidInput("name", "give a name (or contact_id, or an email or phone of an existing contact)")
        by_handle: dict[str, tuple[ContactRecord, list[str]]] = {}
        for handle, rec in self.store.contacts_by_handles(self.user_id, c.emails or (), c.phones or ()):
            by_handle.setdefault(rec.id, (rec, []))[1].append(handle)
        same = [(rec, hs) for rec, hs in by_handle.values() if c.name is None or names_compatible(c.name, rec.name)]
        different = [ref(rec, f"shares {', '.join(hs)} but has another name") for rec, hs in by_handle.values()
                     if (rec, hs) not in same]
        if len(same) > 1:
            listed = "; ".join(f"{rec.name} (id {rec.id}, by {', '.join(hs)})" for rec, hs in same)
            raise InvalidInput("contact_id", f"the emails/phones given match {len(same)} contacts: {listed}. "
                                             "Pass contact_id to choose the one to update")
        if same:
            existing, hs = same[0]
            write = merged(existing, c, replace_lists=replace_lists)
            how = f"matched the existing contact {existing.name!r} by {', '.join(hs)}"
            if unchanged(existing, write):
                return SaveContactResult(contact=to_contact(existing), created=False, reason=f"{how}: nothing changed",
                                         possible_duplicates=different)
            rec = self._write([write])[0]
            return SaveContactResult(contact=to_contact(rec), created=False, reason=f"{how}; updated it",
                                     possible_duplicates=different)
        if c.name is None:
            raise InvalidInput("name", "no contact has these emails/phones; a name is needed to create one")
        namesakes = [ref(rec, "same name") for rec in self.store.contacts_by_name(self.user_id, [fold(c.name)])]
        rec = self._write([new_write(c)])[0]
        reason = "new contact"
        if namesakes or different:
            reason += "; other contacts look similar (see possible_duplicates): pass contact_id to update one instead"
        return SaveContactResult(contact=to_contact(rec), created=True, reason=reason,
                                 possible_duplicates=namesakes + different)

    def _handle_owners(self, c: Clean, exclude: str) -> list[ContactRef]:
        owners: dict[str, tuple[ContactRecord, list[str]]] = {}
        for handle, rec in self.store.contacts_by_handles(self.user_id, c.emails or (), c.phones or ()):
            if rec.id != exclude:
                owners.setdefault(rec.id, (rec, []))[1].append(handle)
        return [ref(rec, f"also has {', '.join(hs)}") for rec, hs in owners.values()]

    def _write(self, writes: Sequence[ContactWrite], *, embed: bool = True) -> list[ContactRecord]:
        todo = [i for i, w in enumerate(writes) if not w.keep_vector]
        out = list(writes)
        with_notes = [i for i in todo if writes[i].notes] if embed else []
        vectors = self.embedder.embed([writes[i].notes for i in with_notes]) if with_notes else None  # type: ignore[misc]
        for n, i in enumerate(with_notes):
            out[i] = with_vector(writes[i], vectors[n])  # type: ignore[index]
        return self.store.write_contacts(self.user_id, out)

    def delete(self, contact_id: str) -> DeleteContactResult:
        rec = self._one(contact_id)
        if not self.store.delete_contacts(self.user_id, [rec.id]):
            raise NotFound("contact", contact_id)
        return DeleteContactResult(deleted=rec.id, name=rec.name)

    # -- bulk: import and sync ------------------------------------------------------------------

    def import_contacts(self, rows: Iterable[tuple[str, ContactInput]], *, total: int | None = None,
                        progress: Progress | None = None, embed: bool = True, file: str | None = None) -> ImportSummary:
        started = time.perf_counter()
        tally = _Tally()
        batch: list[tuple[str, ContactInput]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= IMPORT_BATCH:
                self._apply(batch, tally, embed=embed)
                batch = []
                if progress:
                    progress(tally.rows, total, "importing")
        if batch:
            self._apply(batch, tally, embed=embed)
        if progress:
            progress(tally.rows, total, "done")
        return ImportSummary(file=file, rows=tally.rows, added=tally.added, updated=tally.updated,
                             unchanged=tally.unchanged, skipped=tally.skipped, warnings=tally.warnings,
                             seconds=round(time.perf_counter() - started, 3))

    def _apply(self, rows: Sequence[tuple[str, ContactInput]], tally: _Tally, *, embed: bool) -> None:
        """Match every row to at most one contact (source id, then email/phone, then exact name and company),
        merging rows of the same person within the batch too, then write the batch at once."""
        tally.rows += len(rows)
        cleaned: list[tuple[str, Clean]] = []
        for label, given in rows:
            try:
                c = clean(given, self.region, strict=False)
            except InvalidInput as exc:
                tally.skipped.append(ImportIssue(row=label, reason=str(exc)))
                continue
            tally.warnings.extend(ImportIssue(row=label, reason=w) for w in c.warnings)
            if c.name is None:
                tally.skipped.append(ImportIssue(row=label, reason="no name, email, phone or company"))
                continue
            cleaned.append((label, c))
        if not cleaned:
            return
        source = cleaned[0][1].source
        # Every contact this batch may touch, keyed by id ("new:N" for the ones it creates), in its latest state.
        current: dict[str, ContactRecord] = {}
        originals: dict[str, ContactRecord] = {}
        by_source: dict[str, str] = {}
        by_handle: dict[str, list[str]] = {}
        by_name: dict[str, list[str]] = {}
        for sid, rec in self.store.contacts_by_source(
                self.user_id, source, [c.source_id for _, c in cleaned if c.source_id]).items():
            current[rec.id] = originals[rec.id] = rec
            by_source[sid] = rec.id
        emails = sorted({e for _, c in cleaned for e in c.emails or ()})
        phones = sorted({p for _, c in cleaned for p in c.phones or ()})
        for handle, rec in self.store.contacts_by_handles(self.user_id, emails, phones):
            current[rec.id] = originals[rec.id] = rec
            by_handle.setdefault(handle, []).append(rec.id)
        names = sorted({fold(c.name or "") for _, c in cleaned if not c.handles})
        for rec in self.store.contacts_by_name(self.user_id, names):
            current[rec.id] = originals[rec.id] = rec
            by_name.setdefault(fold(rec.name), []).append(rec.id)

        drafts: dict[str, ContactWrite] = {}
        for label, c in cleaned:
            name = c.name or ""
            if c.source_id:
                tally.seen_source_ids.add(c.source_id)
            by_source_id = bool(c.source_id and c.source_id in by_source)
            if by_source_id:
                keys = [by_source[c.source_id]]  # type: ignore[index]
            elif c.handles:
                keys = [k for h in c.handles for k in by_handle.get(h, ()) if names_compatible(name, current[k].name)]
            else:
                keys = [k for k in by_name.get(fold(name), ())
                        if not (current[k].company and c.company) or fold(current[k].company or "") == fold(c.company or "")]
            keys = list(dict.fromkeys(keys))
            if len(keys) > 1:
                listed = ", ".join(f"{current[k].name} ({k})" for k in keys)
                tally.skipped.append(ImportIssue(row=label, reason=f"matches {len(keys)} contacts: {listed}"))
                continue
            if keys:
                key = keys[0]
                # The provider's own record of the person is authoritative, name included.
                write = merged(current[key], c, by_id=by_source_id)
                if unchanged(current[key], write):
                    tally.unchanged += 1
                    continue
                tally.updated += 1
            else:
                key = f"new:{len(current)}"
                write = replace(new_write(c), id=key)
                tally.added += 1
            drafts[key] = write
            current[key] = as_record(write, current.get(key))
            if write.source_id:
                by_source[write.source_id] = key
            for h in (*write.emails, *write.phones):
                if key not in by_handle.setdefault(h, []):
                    by_handle[h].append(key)
            if key not in by_name.setdefault(fold(write.name), []):
                by_name[fold(write.name)].append(key)
        writes = []
        for key, w in drafts.items():
            old = originals.get(key)
            writes.append(replace(w, id=None if old is None else key,
                                  keep_vector=old is not None and old.notes == w.notes))
        if writes:
            self._write(writes, embed=embed)

    def sync(self, progress: Progress | None = None, provider: str = "google") -> SyncResult:
        info = self.credentials.load(provider)
        if info is None or self.sources is None:
            return SyncResult(provider=provider, status="not_connected", message=CONNECT_HELP)
        source = self.sources(provider, info)
        token = self.store.get_sync_token(self.user_id, provider)
        tally = _Tally()
        deleted, full, done, next_token = 0, False, 0, None
        try:
            for page in source.pages(token):
                full = page.full
                gone = [p.source_id for p in page.contacts if p.deleted]
                rows = [(p.source_id, ContactInput(
                    name=p.name, emails=list(p.emails), phones=list(p.phones), company=p.company, role=p.role,
                    notes=p.notes, source=provider, source_id=p.source_id,
                )) for p in page.contacts if not p.deleted]
                if rows:
                    self._apply(rows, tally, embed=True)
                if gone:
                    ids = [r.id for r in self.store.contacts_by_source(self.user_id, provider, gone).values()]
                    deleted += len(self.store.delete_contacts(self.user_id, ids))
                done += len(page.contacts)
                next_token = page.next_sync_token or next_token
                if progress:
                    progress(done, page.total if full else None, f"{done} contacts from {provider}")
        except ContactSourceError as exc:
            if exc.auth:
                raise JarvisError(
                    f"{provider} refused the stored credentials (revoked or expired). Run "
                    "`jarvis-mcp connect google --client-secrets FILE` again, then retry."
                ) from None
            raise JarvisError(f"{provider} contacts are unavailable right now ({exc}); try again later. "
                              "Pages already received were saved.") from None
        if full:
            # A full listing is the truth: contacts that were deleted while the token was expired go too.
            stale = [cid for sid, cid in self.store.source_ids(self.user_id, provider).items()
                     if sid not in tally.seen_source_ids]
            deleted += len(self.store.delete_contacts(self.user_id, stale))
        self.store.set_sync_token(self.user_id, provider, next_token)
        summary = (f"{tally.added} added, {tally.updated} updated, {tally.unchanged} unchanged, {deleted} deleted, "
                   f"{len(tally.skipped)} skipped")
        return SyncResult(
            provider=provider, status="synced", full=full, added=tally.added, updated=tally.updated,
            unchanged=tally.unchanged, deleted=deleted, skipped=tally.skipped,
            message=f"{'Full' if full else 'Incremental'} sync with {provider} Contacts: {summary}.",
        )

    def connect(self, provider: str, info: dict[str, object]) -> None:
        """Store the provider's credentials (encrypted) and forget any old sync position."""
        self.credentials.save(provider, info)
        self.store.set_sync_token(self.user_id, provider, None)


__all__ = ["ContactService", "ContactInput", "CONNECT_HELP", "Resolved", "contact_uri"]
