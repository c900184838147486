"""analyze_sentiment's use cases for one user: a text, one received email, or a person's messages as a
trend over time. Read-only: nothing is written, whatever the input."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from jarvis_mcp.contacts.ports import ContactRecord
from jarvis_mcp.contacts.resolve import name_words
from jarvis_mcp.errors import InvalidInput, JarvisError
from jarvis_mcp.inbox.service import NO_INBOX
from jarvis_mcp.memory.ports import MemoryFilter
from jarvis_mcp.ports import ProviderFailure
from jarvis_mcp.sentiment.lexicon import THRESHOLD
from jarvis_mcp.sentiment.models import MessageSentiment, MonthTrend, SentimentItem, SentimentReport
from jarvis_mcp.sentiment.ports import Sentiment, SentimentAnalyzer, SentimentFailure, SentimentSources
from jarvis_mcp.text import zone

if TYPE_CHECKING:
    from jarvis_mcp.contacts.service import ContactService
    from jarvis_mcp.inbox.service import InboxService

MAX_TEXT = 5_000
MAX_LIMIT = 50
MEMORY_SCAN = 1_000  # memories found by the contact's name words (best keyword matches), before the mention check
OUTBOX_SCAN = 500
INBOX_READ = 10  # received emails read in full (each may be a provider request)
DIRECTION_DELTA = 0.15  # the newer half's mean must move this much to call it a change
EXCERPT = 160
_SKIPPED_STATUS = {"cancelled", "expired", "failed"}  # email never written to anyone


@dataclass(frozen=True)
class _Message:
    id: str
    kind: str
    at: float  # epoch seconds
    text: str


class SentimentService:
    def __init__(self, user_id: str, analyzer: SentimentAnalyzer, sources: SentimentSources, *,
                 contacts: Callable[[], ContactService], inbox: Callable[[], InboxService] | None = None,
                 timezone: str | None = None) -> None:
        self.user_id = user_id
        self.analyzer = analyzer
        self.sources = sources
        self._contacts = contacts
        self._inbox = inbox
        self.zone = zone(timezone)

    def analyze(self, text: str | None = None, contact: str | None = None, email_id: str | None = None,
                limit: int = 20) -> SentimentReport:
        given = [name for name, value in (("text", text), ("contact", contact), ("email_id", email_id))
                 if value is not None]
        if len(given) != 1:
            got = f"got {' and '.join(given)}" if given else "got none"
            raise InvalidInput(", ".join(given) if given else "text", f"give exactly one of text, contact or "
                                                                      f"email_id ({got})")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT} (got {limit})")
        if text is not None:
            return SentimentReport(subject="text", analyzer=self.analyzer.name, sentiment=self._one(text, "text"))
        if email_id is not None:
            return self._email(email_id)
        assert contact is not None
        return self._contact(contact, limit)

    def _one(self, text: str, field: str) -> MessageSentiment:
        if not text.strip():
            raise InvalidInput(field, "must not be empty")
        if len(text) > MAX_TEXT:
            raise InvalidInput(field, f"must be at most {MAX_TEXT} characters (got {len(text)})")
        return _model(self._label([text])[0])

    def _email(self, email_id: str) -> SentimentReport:
        if not email_id.strip():
            raise InvalidInput("email_id", "must not be empty")
        if self._inbox is None:
            raise JarvisError("email_id: no inbox is configured on this server (JARVIS_INBOX)")
        message = self._inbox().read(email_id, max_chars=MAX_TEXT)
        found = self._label([f"{message.subject}\n{message.body}"[:MAX_TEXT]])[0]
        return SentimentReport(subject="email", analyzer=self.analyzer.name, sentiment=_model(found),
                               email_id=message.id, sources=[f"inbox: {message.source}"])

    def _label(self, texts: list[str]) -> list[Sentiment]:
        """The analyzer's labels; a provider's failure said as an error the model can show."""
        if not texts:
            return []
        try:
            return self.analyzer.analyze(texts)
        except SentimentFailure as exc:
            raise JarvisError(str(exc)) from None

    # -- a person ---------------------------------------------------------------------------------

    def _contact(self, text: str, limit: int) -> SentimentReport:
        resolved = self._contacts().resolve(text, "any", field="contact")
        person = resolved.contact
        addresses = {e.lower() for e in person.emails} if person else ({resolved.handle} if "@" in resolved.handle else set())
        memories, capped = self._memories(person, addresses)
        messages = memories + self._sent(person, addresses)
        notes = ["memories and logged conversations" + (f" (the {MEMORY_SCAN} best keyword matches)" if capped else ""),
                 "sent email (outbox)"]
        received, note = self._received(addresses)
        messages += received
        notes.append(note)
        messages.sort(key=lambda m: m.at, reverse=True)
        labelled = list(zip(messages, self._label([m.text[:MAX_TEXT] for m in messages]),
                            strict=True))
        items = [SentimentItem(id=m.id, kind=m.kind, at=self._iso(m.at), label=s.label, score=s.score,  # type: ignore[arg-type]
                               sarcasm=s.sarcasm, excerpt=_excerpt(m.text)) for m, s in labelled[:limit]]
        return SentimentReport(
            subject="contact", analyzer=self.analyzer.name, contact_id=person.id if person else None,
            contact_name=person.name if person else resolved.handle, overall=_overall([s for _, s in labelled]),
            direction=_direction([s.score for _, s in reversed(labelled)]),
            months=self._months(labelled), items=items, total_items=len(labelled), sources=notes,
        )

    def _memories(self, person: ContactRecord | None, addresses: set[str]) -> tuple[list[_Message], bool]:
        """Memories that mention the person, and whether the keyword scan hit its cap."""
        names = name_words(person.name) if person else []
        terms = names + [a.split("@")[0] for a in addresses]
        if not terms:
            return [], False
        seqs = self.sources.keyword_search(self.user_id, terms, MemoryFilter(), MEMORY_SCAN)
        out = []
        for record in self.sources.memories_by_seq(self.user_id, seqs):
            if record.role == "assistant":  # the assistant's own words say nothing of the relationship
                continue
            if _mentions(record.text, person, names, addresses):
                kind = "conversation" if record.conversation_id else "memory"
                out.append(_Message(record.id, kind, record.occurred_at or record.created_at, record.text))
        return out, len(seqs) >= MEMORY_SCAN

    def _sent(self, person: ContactRecord | None, addresses: set[str]) -> list[_Message]:
        out = []
        for action in self.sources.outbox_list(self.user_id, OUTBOX_SCAN):
            if action.kind != "send_email" or action.status in _SKIPPED_STATUS:
                continue
            recipients = action.arguments.get("recipients") or []
            if any((person and r.get("contact_id") == person.id) or str(r.get("address", "")).lower() in addresses
                   for r in recipients):
                text = f"{action.arguments.get('subject', '')}\n{action.arguments.get('body', '')}"
                out.append(_Message(action.id, "email_sent", action.created_at, text))
        return out

    def _received(self, addresses: set[str]) -> tuple[list[_Message], str]:
        if self._inbox is None:
            return [], "received email: no inbox configured (JARVIS_INBOX)"
        if not addresses:
            return [], "received email: the contact has no email address"
        try:
            inbox = self._inbox()
            found = [hit for a in sorted(addresses)[:3] for hit in inbox.search(sender=a, limit=MAX_LIMIT).emails]
            found.sort(key=lambda h: h.date or "", reverse=True)
            out = []
            for hit in found[:INBOX_READ]:
                message = inbox.read(hit.id, max_chars=MAX_TEXT)
                when = datetime.fromisoformat(message.date).timestamp() if message.date else 0.0
                out.append(_Message(message.id, "email_received", when, f"{message.subject}\n{message.body}"))
        except (JarvisError, ProviderFailure) as exc:
            if str(exc) == NO_INBOX:
                return [], "received email: no inbox configured (JARVIS_INBOX)"
            return [], f"received email: could not be read ({exc})"
        return out, f"received email ({len(out)} newest read of {len(found)})"

    def _iso(self, at: float) -> str:
        return datetime.fromtimestamp(at, self.zone).isoformat(timespec="minutes")

    def _months(self, labelled: list[tuple[_Message, Sentiment]]) -> list[MonthTrend]:
        groups: dict[str, list[Sentiment]] = defaultdict(list)
        for message, found in labelled:
            groups[datetime.fromtimestamp(message.at, self.zone).strftime("%Y-%m")].append(found)
        out = []
        for month in sorted(groups, reverse=True):
            counts = Counter(s.label for s in groups[month])
            out.append(MonthTrend(month=month, count=len(groups[month]), positive=counts["positive"],
                                  neutral=counts["neutral"], negative=counts["negative"],
                                  mean_score=round(sum(s.score for s in groups[month]) / len(groups[month]), 3)))
        return out


def _mentions(text: str, person: ContactRecord | None, names: list[str], addresses: set[str]) -> bool:
    """The full name, an address, or the first name as a whole word (accents and case folded)."""
    folded = f" {' '.join(name_words(text))} "
    if any(a in text.lower() for a in addresses):
        return True
    if not person or not names:
        return False
    return f" {' '.join(names)} " in folded or (len(names[0]) >= 3 and f" {names[0]} " in folded)


def _model(found: Sentiment) -> MessageSentiment:
    return MessageSentiment(label=found.label, score=found.score, confidence=found.confidence,  # type: ignore[arg-type]
                            language=found.language, sarcasm=found.sarcasm, cues=list(found.cues))


def _overall(found: list[Sentiment]) -> MessageSentiment | None:
    if not found:
        return None
    mean = sum(s.score for s in found) / len(found)
    label = "positive" if mean >= THRESHOLD else "negative" if mean <= -THRESHOLD else "neutral"
    language = Counter(s.language for s in found).most_common(1)[0][0]
    return MessageSentiment(label=label, score=round(mean, 3), language=language,
                            confidence=round(sum(s.confidence for s in found) / len(found), 2))


def _direction(scores_oldest_first: list[float]) -> str:
    if len(scores_oldest_first) < 4:
        return "not enough data"
    half = len(scores_oldest_first) // 2
    older, newer = scores_oldest_first[:half], scores_oldest_first[half:]
    delta = sum(newer) / len(newer) - sum(older) / len(older)
    return "improving" if delta > DIRECTION_DELTA else "worsening" if delta < -DIRECTION_DELTA else "stable"


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"

