"""The sentiment toolset's ports: an analyzer (the local lexicon, or OpenAI) and the stored messages the
per-contact trend reads (memories and the outbox, through the store's existing per-user methods)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from jarvis_mcp.actions.ports import OutboxRecord
from jarvis_mcp.memory.ports import MemoryFilter, MemoryRecord
from jarvis_mcp.ports import ProviderFailure

Label = Literal["positive", "neutral", "negative"]


@dataclass(frozen=True)
class Sentiment:
    label: str  # Label
    score: float  # -1 (most negative) .. 1 (most positive)
    confidence: float  # 0..1
    language: str  # es | en (another code from a provider that detects more)
    sarcasm: bool = False
    cues: tuple[str, ...] = ()  # the lexicon words that decided it (empty from a provider)


class SentimentAnalyzer(Protocol):
    name: str  # lexicon | openai:<model>

    def analyze(self, texts: list[str]) -> list[Sentiment]:
        """One Sentiment per text, in order. SentimentFailure when a provider cannot answer."""
        ...


class SentimentFailure(ProviderFailure):
    """The configured provider failed or answered something that is not the promised JSON."""


class SentimentSources(Protocol):
    """What the trend reads, all per user: memories found by keyword, and the outbox (sent email)."""

    def keyword_search(self, user_id: str, terms: Sequence[str], flt: MemoryFilter, limit: int) -> list[int]: ...
    def memories_by_seq(self, user_id: str, seqs: Sequence[int]) -> list[MemoryRecord]: ...
    def outbox_list(self, user_id: str, limit: int) -> list[OutboxRecord]: ...
