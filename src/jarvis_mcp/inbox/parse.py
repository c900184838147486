"""An RFC 5322 message read into a Letter (inbox/ports.py), and the local search's matching rules.

Used by the local adapters (Maildir, mbox); Gmail's own search runs at Gmail. A leaf of the inbox
package: standard library and the keyword rules of memory/keywords.py (accent-folded, Spanish and
English stems), so "revisión" finds "revisiones" in a mail folder as it does in memories.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime
from typing import TypeVar

from jarvis_mcp.html_text import html_to_text
from jarvis_mcp.inbox.ports import Attachment, Letter, SearchQuery
from jarvis_mcp.memory.keywords import stem_set, term_stems, words
from jarvis_mcp.text import STOPWORDS, fold

SNIPPET_CHARS = 140
T = TypeVar("T")
_HEADS = BytesHeaderParser(policy=policy.compat32)
_FAST = BytesParser(policy=policy.compat32)


def header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a malformed header must not hide the whole message
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def date_of(msg: EmailMessage) -> datetime | None:
    raw = header(msg, "Date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def bodies(msg: EmailMessage) -> tuple[str, str, tuple[Attachment, ...]]:
    """(plain text, HTML, attachments): the first text/plain and text/html parts that are not attachments;
    every part with a file name (or marked attachment) listed with its decoded size, never kept."""
    text, html, files = "", "", []
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        name = part.get_filename()
        if name or part.get_content_disposition() == "attachment":
            payload = part.get_payload(decode=True) or b""
            files.append(Attachment(name or "(unnamed)", kind, len(payload)))
        elif kind == "text/plain" and not text:
            text = _content(part)
        elif kind == "text/html" and not html:
            html = _content(part)
    return text, html, tuple(files)


def _content(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, ValueError, AssertionError):  # an unknown charset: the bytes, replaced where unreadable
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def readable(text: str, html: str) -> str:
    """The body a person reads: the plain text, else the HTML as text."""
    return text.strip() if text.strip() else html_to_text(html).strip() if html else ""


def snippet(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"


def letter(key: str, msg: EmailMessage, *, unread: bool, full: bool) -> Letter:
    text, html, files = bodies(msg)
    return Letter(
        key=key, date=date_of(msg), sender=header(msg, "From"), subject=header(msg, "Subject"), unread=unread,
        message_id=header(msg, "Message-ID") or None, to=header(msg, "To"), cc=header(msg, "Cc"),
        in_reply_to=header(msg, "In-Reply-To") or None, references=header(msg, "References") or None,
        reply_to=header(msg, "Reply-To") or None,
        text=text if full else snippet(readable(text, html)), html=html if full else "", attachments=files,
    )


def query_terms(text: str | None) -> list[tuple[str, ...]]:
    """The stems of each query word (stopwords dropped unless nothing else is left)."""
    if not text:
        return []
    found = words(text)
    kept = [w for w in found if w not in STOPWORDS] or found
    return [term_stems(w) for w in kept]


# -- the local search: headers first, bodies only for the newest candidates, until `limit` match --------
# compat32 parsing is several times faster than policy.default's; the full parse (letter()) is kept for
# the few messages a search returns.


def _decoded(value: object) -> str:
    if value is None:
        return ""
    try:
        return " ".join(str(make_header(decode_header(str(value)))).split())
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return " ".join(str(value).split())


def head_of(raw: bytes) -> Message:
    """Only the header block of a raw message (cut at the first blank line), parsed the fast way."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0]
    return _HEADS.parsebytes(raw[: min(ends) + 1] if ends else raw)


def head_date(head: Message) -> datetime | None:
    raw = head.get("Date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def head_passes(head: Message, query: SearchQuery, *, unread: bool) -> bool:
    """The filters a header decides: read state, date, sender."""
    if query.unread is not None and unread != query.unread:
        return False
    if query.since is not None:
        when = head_date(head)
        if when is None or when < query.since:
            return False
    return not query.sender or fold(query.sender) in fold(_decoded(head.get("From")))


def words_match(raw: bytes, terms: list[tuple[str, ...]]) -> bool:
    """Every query word somewhere in the subject, addresses, readable body or attachment names."""
    if not terms:
        return True
    msg = _FAST.parsebytes(raw)
    parts = [_decoded(msg.get(h)) for h in ("Subject", "From", "To", "Cc")]
    text, html = "", ""
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        if name or part.get("Content-Disposition", "").lower().startswith("attachment"):
            parts.append(_decoded(name or ""))
            continue
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True) or b""
            try:
                decoded = payload.decode(part.get_content_charset() or "utf-8", "replace")
            except LookupError:
                decoded = payload.decode("utf-8", "replace")
            if kind == "text/plain" and not text:
                text = decoded
            elif kind == "text/html" and not html:
                html = decoded
    parts.append(readable(text, html))
    stems = stem_set(" ".join(parts))
    return all(any(s in stems for s in term) for term in terms)


def newest_first(items: list[tuple[datetime | None, T]]) -> list[T]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return [item for _, item in sorted(items, key=lambda pair: pair[0] or oldest, reverse=True)]
