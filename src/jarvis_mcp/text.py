"""Text rules shared by the services: normalisation for dedup, tags, keyword terms, times."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from typing import overload
from zoneinfo import ZoneInfo

from jarvis_mcp.errors import InvalidInput

MAX_TAGS = 20
_TAG = re.compile(r"^[\w][\w\-:./]{0,39}$")
_WORD = re.compile(r"\w+")
# IANA names are letters, digits, _ + - in up to three parts (Etc/GMT+5, America/Argentina/Buenos_Aires).
_ZONE = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+){0,2}$")
ZONE_RULE = "must be an IANA time zone such as Europe/Madrid"
# C0 controls but tab, newline and carriage return; DEL; C1. No argument needs them, NUL is refused by
# Postgres and cuts strings short in C code, and the rest can hide text from whoever reads it.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Words that match nearly every memory: as keyword terms they only add noise and cost.
STOPWORDS = frozenset(
    ["a", "about", "after", "again", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for", "from", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "al", "como", "con", "de", "del", "el", "ella", "en", "es", "esta", "este", "fue", "ha", "la", "las", "lo", "los", "me", "mi", "mis", "no", "para", "pero", "por", "que", "se", "su", "sus", "un", "una", "y", "yo"]
)


def fold(text: str) -> str:
    """Case, accents and spacing folded: what 'the same text' means for dedup."""
    if text.isascii():  # no accents to strip: skip the per-character pass (it runs on every search hit)
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split())


def content_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def clean_text(field: str, text: str, max_chars: int) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput(field, "must not be empty")
    if len(text) > max_chars:
        raise InvalidInput(field, f"must be at most {max_chars} characters (got {len(text)})")
    if "\x00" in text:
        raise InvalidInput(field, "must not contain NUL characters")
    return text


def clean_tags(field: str, tags: list[str] | None) -> tuple[str, ...]:
    if not tags:
        return ()
    if len(tags) > MAX_TAGS:
        raise InvalidInput(field, f"at most {MAX_TAGS} tags")
    out: list[str] = []
    for tag in tags:
        norm = "-".join(tag.strip().lower().split())
        if not _TAG.match(norm):
            raise InvalidInput(
                field, f"tag {tag!r} must be 1-40 letters, digits or - _ : . / and start with a letter or digit"
            )
        if norm not in out:
            out.append(norm)
    return tuple(out)


def keyword_terms(query: str, limit: int = 16) -> list[str]:
    words = [w for w in _WORD.findall(fold(query)) if len(w) > 1 or w.isdigit()]
    useful = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(useful))[:limit]


def zone(name: str | None) -> ZoneInfo:
    """A stored zone name, read leniently: one that no longer resolves shows times in UTC, never fails."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return valid_zone("timezone", name)
    except InvalidInput:
        return ZoneInfo("UTC")


def valid_zone(field: str, name: str) -> ZoneInfo:
    """A zone the caller names. ZoneInfo reads the name as a path under the tz database: a folder
    ("America", "Etc") raises IsADirectoryError and a long name OSError, so the shape is checked first
    and any failure left is the caller's mistake, never a server error."""
    key = name.strip()
    if len(key) > 64 or not _ZONE.match(key):
        raise InvalidInput(field, ZONE_RULE)
    try:
        return ZoneInfo(key)
    except Exception:  # ZoneInfoNotFoundError, ValueError (not a TZif file), OSError
        raise InvalidInput(field, ZONE_RULE) from None


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def printable(text: str) -> str:
    """Control characters written as \\xNN: safe to echo, log and store (Postgres refuses NUL)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def to_epoch(value: datetime | None, tz_name: str | None) -> float | None:
    """A naive time is read in the user's own time zone (their profile), else UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz_name))
    return value.timestamp()


@overload
def from_epoch(value: float) -> datetime: ...
@overload
def from_epoch(value: float | None) -> datetime | None: ...
def from_epoch(value: float | None) -> datetime | None:
    # Overloaded so a column that is never NULL gives a datetime, not an Optional to argue with.
    return None if value is None else datetime.fromtimestamp(value, UTC)
