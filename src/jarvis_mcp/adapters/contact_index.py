"""Per-user in-memory contact search: typo- and accent-tolerant terms, partial phones, emails.

A SQL LIKE/FTS pass cannot do "jon" -> "John" or "612 34" -> "+34 612 345 678" within a few
milliseconds over 10,000 contacts, so each user's contacts are held as inverted term lists plus two
flat strings (phone digits, emails) searched with str.find. Like vector_cache.py this is derived state:
any store adapter rebuilds it from its rows when the user's contacts version moves, and keeps it in
step with its own writes.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from jarvis_mcp.adapters.versioned_lru import VersionedLru
from jarvis_mcp.contacts.ports import ContactMatch, ContactRecord
from jarvis_mcp.text import STOPWORDS, fold

# How much a perfect match in each field counts; the order is the order "matched" lists ties in.
WEIGHTS = {
    "name": 1.0, "email": 0.95, "phone": 0.95, "company": 0.85, "tags": 0.8,
    "role": 0.75, "relationship": 0.75, "notes": 0.55,
}
_TEXT_FIELDS = ("name", "company", "role", "relationship", "tags", "email", "notes")
# Fuzzy matching is for names and labels people misspell; notes only get it for long words.
_FUZZY_FIELDS = frozenset({"name", "company", "role", "relationship", "tags"})
_MAX_PREFIX_TERMS = 300
_WORD = re.compile(r"\w+")
_PHONEISH = re.compile(r"^[\d\s+().\-/…]+$")


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _max_edits(term: str) -> int:
    n = len(term)
    return 0 if n < 3 else 1 if n < 6 else 2


@dataclass
class ParsedQuery:
    terms: list[str] = field(default_factory=list)  # folded words
    digits: list[str] = field(default_factory=list)  # phone digit runs (>= 3 digits)
    emails: list[str] = field(default_factory=list)  # email / domain fragments
    folded: str = ""

    @property
    def units(self) -> int:
        return len(self.terms) + len(self.digits) + len(self.emails)


def parse_query(query: str) -> ParsedQuery:
    q = ParsedQuery(folded=" ".join(words(query)))
    text = query.strip()
    digits = re.sub(r"\D", "", text)
    if _PHONEISH.match(text) and len(digits) >= 3:
        q.digits.append(digits)
        return q
    rest: list[str] = []
    for chunk in text.split():
        bare = chunk.strip("<>()[],;:\"'").lower()
        if "@" in bare or re.fullmatch(r"[\w\-]+(\.[\w\-]+)+", bare) and not bare.replace(".", "").isdigit():
            q.emails.append(bare)
        else:
            rest.append(chunk)
    for w in words(" ".join(rest)):
        if w.isdigit():
            if len(w) >= 3:
                q.digits.append(w)
        else:
            q.terms.append(w)
    useful = [t for t in q.terms if t not in STOPWORDS]
    if useful or q.digits or q.emails:
        q.terms = useful
    q.terms = list(dict.fromkeys(q.terms))
    return q


class _Terms:
    """term -> slots, plus a sorted vocabulary for prefix and fuzzy lookups (re-sorted lazily)."""

    def __init__(self) -> None:
        self.postings: dict[str, list[int]] = {}
        self._vocab: list[str] | None = None

    def add(self, term: str, slot: int) -> None:
        slots = self.postings.get(term)
        if slots is None:
            self.postings[term] = [slot]
            self._vocab = None
        elif slots[-1] != slot:
            slots.append(slot)

    @property
    def vocab(self) -> list[str]:
        if self._vocab is None:
            self._vocab = sorted(self.postings)
        return self._vocab

    def match(self, term: str, fuzzy: bool) -> list[tuple[str, float]]:
        """(stored term, quality 0-1): exact 1, prefix 0.5-0.9, one edit away 0.7, two 0.5."""
        found: dict[str, float] = {}
        if term in self.postings:
            found[term] = 1.0
        vocab = self.vocab
        if term:  # one letter too: completion of "z" lists the z... names
            i = bisect_left(vocab, term)
            end = bisect_left(vocab, term + "\uffff", i)
            for t in vocab[i : min(end, i + _MAX_PREFIX_TERMS)]:
                if t != term:
                    found[t] = 0.5 + 0.4 * len(term) / len(t)
        edits = _max_edits(term)
        if fuzzy and edits:
            for t, dist, _ in process.extract(term, vocab, scorer=OSA.distance, score_cutoff=edits, limit=None):
                if t not in found:
                    # One slip ("jon" for "john") ranks above a short prefix of a longer name ("jonathan").
                    found[t] = 0.7 if dist == 1 else 0.5
        return list(found.items())


class _Strings:
    """Many short strings joined into one, so a substring search is one C-level str.find loop."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.slots: list[int] = []
        self._blob: str | None = None
        self._starts: list[int] = []

    def add(self, value: str, slot: int) -> None:
        self.parts.append(value)
        self.slots.append(slot)
        self._blob = None

    def find(self, needle: str, limit: int = 5000) -> Iterable[tuple[int, float]]:
        """(slot, quality) for every string containing needle; quality grows with the share covered."""
        if self._blob is None:
            self._blob = "\n".join(self.parts) + "\n"
            starts, pos = [], 0
            for part in self.parts:
                starts.append(pos)
                pos += len(part) + 1
            self._starts = starts
        blob, starts = self._blob, self._starts
        pos = blob.find(needle)
        while pos != -1 and limit:
            i = bisect_right(starts, pos) - 1
            length = len(self.parts[i])
            yield self.slots[i], 1.0 if length == len(needle) else 0.7 + 0.25 * len(needle) / length
            pos = blob.find("\n", pos)  # one hit per string is enough
            pos = blob.find(needle, pos) if pos != -1 else -1
            limit -= 1


class ContactIndex:
    def __init__(self, version: int, dim: int = 0) -> None:
        self.version = version
        self.dim = dim
        self.lock = threading.RLock()
        self.records: list[ContactRecord | None] = []
        self.slot_of: dict[str, int] = {}
        self.terms = {f: _Terms() for f in _TEXT_FIELDS}
        self.tag_slots: dict[str, list[int]] = {}
        self.phones = _Strings()
        self.emails = _Strings()
        self.vectors: list[np.ndarray | None] = []
        self._matrix: tuple[np.ndarray, np.ndarray] | None = None
        self.dead = 0

    @property
    def size(self) -> int:
        return len(self.slot_of)

    # -- writes ---------------------------------------------------------------------------------

    def upsert(self, record: ContactRecord, vector: np.ndarray | None) -> None:
        self.remove(record.id)
        slot = len(self.records)
        self.records.append(record)
        self.vectors.append(vector)
        self.slot_of[record.id] = slot
        if vector is not None:
            self._matrix = None
        t = self.terms
        for w in words(record.name):
            t["name"].add(w, slot)
        for e in record.emails:
            self.emails.add(e, slot)
            local, _, domain = e.partition("@")
            for w in words(local) + words(domain.rsplit(".", 1)[0]):
                t["email"].add(w, slot)
        for p in record.phones:
            self.phones.add(p.lstrip("+"), slot)
        for name in ("company", "role", "relationship"):
            value = getattr(record, name)
            if value:
                for w in words(value):
                    t[name].add(w, slot)
        for tag in record.tags:
            self.tag_slots.setdefault(tag, []).append(slot)
            for w in {tag, *words(tag.replace("-", " "))}:
                t["tags"].add(w, slot)
        if record.notes:
            for w in dict.fromkeys(words(record.notes)):
                if w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
                    t["notes"].add(w, slot)

    def remove(self, contact_id: str) -> None:
        slot = self.slot_of.pop(contact_id, None)
        if slot is None:
            return
        self.records[slot] = None
        if self.vectors[slot] is not None:
            self._matrix = None
        self.vectors[slot] = None
        self.dead += 1

    @property
    def needs_compaction(self) -> bool:
        return self.dead > 256 and self.dead > len(self.records) // 4

    def compacted(self) -> ContactIndex:
        fresh = ContactIndex(self.version, self.dim)
        for rec, vec in zip(self.records, self.vectors, strict=True):
            if rec is not None:
                fresh.upsert(rec, vec)
        return fresh

    # -- reads ----------------------------------------------------------------------------------

    def search(self, query: str, tags: Sequence[str] | None, limit: int) -> list[ContactMatch]:
        q = parse_query(query)
        if not q.units:
            return []
        allowed: set[int] | None = None
        if tags:
            allowed = {s for tag in tags for s in self.tag_slots.get(tag, ())}
            if not allowed:
                return []
        records = self.records
        total: dict[int, float] = {}
        fields_of: dict[int, dict[str, float]] = {}
        hits_of: dict[int, int] = {}

        def absorb(unit_hits: dict[int, tuple[float, dict[str, float]]]) -> None:
            for slot, (best, per_field) in unit_hits.items():
                total[slot] = total.get(slot, 0.0) + best
                hits_of[slot] = hits_of.get(slot, 0) + 1
                seen = fields_of.setdefault(slot, {})
                for f, s in per_field.items():
                    if s > seen.get(f, 0.0):
                        seen[f] = s

        def credit(unit_hits: dict[int, tuple[float, dict[str, float]]], slot: int, f: str, score: float) -> None:
            if records[slot] is None or (allowed is not None and slot not in allowed):
                return
            entry = unit_hits.get(slot)
            if entry is None:
                unit_hits[slot] = (score, {f: score})
            else:
                per_field = entry[1]
                if score > per_field.get(f, 0.0):
                    per_field[f] = score
                if score > entry[0]:
                    unit_hits[slot] = (score, per_field)

        for term in q.terms:
            unit: dict[int, tuple[float, dict[str, float]]] = {}
            for f in _TEXT_FIELDS:
                store = self.terms[f]
                fuzzy = f in _FUZZY_FIELDS or len(term) >= 6
                w = WEIGHTS[f]
                for t, quality in store.match(term, fuzzy):
                    score = w * quality
                    for slot in store.postings[t]:
                        credit(unit, slot, f, score)
            absorb(unit)
        for run in q.digits:
            unit = {}
            needles = [run]
            if run.startswith("00") and len(run) > 4:
                needles.append(run[2:])  # international call prefix
            elif run.startswith("0") and len(run) > 3:
                needles.append(run[1:])  # national trunk prefix, absent from E.164
            for needle in needles:
                for slot, quality in self.phones.find(needle):
                    credit(unit, slot, "phone", WEIGHTS["phone"] * quality)
            absorb(unit)
        for fragment in q.emails:
            unit = {}
            for slot, quality in self.emails.find(fragment):
                credit(unit, slot, "email", WEIGHTS["email"] * quality)
            absorb(unit)
        if not total:
            return []
        units = q.units
        # Covering more of the query beats matching one word very well.
        ranked = sorted(total, key=lambda s: (hits_of[s], total[s]), reverse=True)[: max(limit * 4, 40)]
        out = []
        for slot in ranked:
            rec = records[slot]
            assert rec is not None
            score = total[slot] / units
            name = fold(rec.name)
            if q.folded and name == q.folded:
                score += 0.5
            elif q.folded and name.startswith(q.folded + " "):  # whole words: "maria" of "maria garcia"
                score += 0.2
            per_field = fields_of[slot]
            matched = tuple(sorted(per_field, key=lambda f: (-per_field[f], list(WEIGHTS).index(f))))
            out.append(ContactMatch(rec, round(score, 4), matched, hits_of[slot] / units))
        out.sort(key=lambda m: (-m.coverage, -m.score, fold(m.record.name), m.record.id))
        return out[:limit]

    def nearest(self, vector: np.ndarray, tags: Sequence[str] | None, limit: int) -> list[tuple[ContactRecord, float]]:
        if self._matrix is None:
            slots = [i for i, v in enumerate(self.vectors) if v is not None]
            mat = np.stack([self.vectors[i] for i in slots]) if slots else np.empty((0, self.dim), np.float32)
            self._matrix = (np.array(slots, np.int64), mat.astype(np.float32, copy=False))
        slots_arr, mat = self._matrix
        if not len(slots_arr):
            return []
        scores = mat @ vector.astype(np.float32, copy=False)
        if tags:
            allowed = {s for tag in tags for s in self.tag_slots.get(tag, ())}
            keep = np.fromiter((s in allowed for s in slots_arr), bool, len(slots_arr))
            scores = np.where(keep, scores, -np.inf)
        k = min(limit, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        out = []
        for i in top:
            rec = self.records[int(slots_arr[i])]
            if rec is not None and np.isfinite(scores[i]):
                out.append((rec, float(scores[i])))
        return out


class ContactIndexCache(VersionedLru[str, ContactIndex]):
    """Users' indexes under a budget counted in contacts."""

    def __init__(self, budget_contacts: int = 500_000) -> None:
        super().__init__(budget_contacts, size=lambda index: index.size)
