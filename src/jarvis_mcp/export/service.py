"""The person's logged conversations as OpenAI fine-tuning chat examples, for one user.

Only conversation turns are read (memories of kind 'conversation', by conversation id): tool arguments,
the audit log, pending actions and the voice key (stored only as a hash) live elsewhere and never get in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from jarvis_mcp.account.ports import ConversationRecord
from jarvis_mcp.memory.ports import MemoryRecord
from jarvis_mcp.sentiment.service import MAX_TEXT, SentimentService

FORMATS = ("openai-chat",)
SENTIMENTS = ("positive", "neutral", "negative")
# Neutral on purpose: the examples teach the assistant's replies, not a persona invented here.
SYSTEM_PROMPT = "You are a helpful personal assistant. Answer in the language the user writes in."
MAX_CONVERSATIONS = 100_000



class ConversationSource(Protocol):
    def recent_conversations(self, user_id: str, limit: int) -> list[ConversationRecord]: ...
    def conversation_turns(self, user_id: str, conversation_id: str) -> list[MemoryRecord]: ...


@dataclass(frozen=True)
class ExportFilter:
    since: float | None = None  # epoch seconds, on the conversation's start
    sentiment: str | None = None  # positive | neutral | negative, of the person's own turns


@dataclass
class ExportStats:
    conversations: int = 0  # logged, in the time window
    exported: int = 0
    skipped_sentiment: int = 0
    skipped_incomplete: int = 0  # no user turn or no assistant turn: nothing to learn from


class ExportService:
    def __init__(self, user_id: str, source: ConversationSource, sentiment: SentimentService | None = None) -> None:
        self.user_id = user_id
        self.source = source
        self.sentiment = sentiment

    def examples(self, flt: ExportFilter, stats: ExportStats) -> Iterator[dict[str, object]]:
        """One {"messages": [...]} per kept conversation, oldest first."""
        found = self.source.recent_conversations(self.user_id, MAX_CONVERSATIONS)
        for conv in sorted(found, key=lambda c: c.started_at):
            if flt.since is not None and conv.started_at < flt.since:
                continue
            stats.conversations += 1
            turns = [t for t in self.source.conversation_turns(self.user_id, conv.id) if t.role]
            roles = {t.role for t in turns}
            if not {"user", "assistant"} <= roles:
                stats.skipped_incomplete += 1
                continue
            if flt.sentiment is not None and self._label(turns) != flt.sentiment:
                stats.skipped_sentiment += 1
                continue
            messages = [{"role": "system", "content": SYSTEM_PROMPT}]
            # A logged system turn is the client's own instruction: not the person's data to train on.
            messages += [{"role": str(t.role), "content": t.text} for t in turns if t.role != "system"]
            stats.exported += 1
            yield {"messages": messages}

    def _label(self, turns: list[MemoryRecord]) -> str:
        # The conversation's feeling is the person's: their turns, labelled by the sentiment service.
        said = "\n".join(t.text for t in turns if t.role == "user")[:MAX_TEXT]
        assert self.sentiment is not None
        report = self.sentiment.analyze(text=said)
        assert report.sentiment is not None
        return report.sentiment.label


def to_jsonl(example: dict[str, object]) -> str:
    return json.dumps(example, ensure_ascii=False) + "\n"
