"""The text a conversation turn is embedded as: a short turn with its context (speaker, date, the turn
before), a long one alone.

A short turn alone is often meaningless ("Yes, book it for the 14th"); embedded with who said it, when, and the
turn it answers, a question about it can find it. The stored text stays the turn as said. Anything that
re-embeds stored turns (jarvis-mcp reindex) must build the same text, from these same fields.
"""

from __future__ import annotations

from jarvis_mcp.memory.ports import NewMemory
from jarvis_mcp.text import from_epoch, zone

#: Measured on the long-conversation dev split with the multilingual default (tools/README.md, "Retrieval
#: rules"; tools/retrieval_rules.py), recall@5 / MRR@10 over 93 questions, date boost on:
#:   every turn alone                      0.554 / 0.487  (single-hop 0.80, multi-hop 0.52, temporal 0.36)
#:   every turn in context                 0.640 / 0.489  (0.70, 0.35, 0.85)
#:   turns under 15 words in context       0.661 / 0.506  (0.77, 0.42, 0.79)   <- kept
#: The answer to a temporal question is often a bare reply ("It came to 150 euros") that only the turn
#: before ties to its subject; a long turn carries its own subject, and the turn before only blurs it.
#: (Averaging the vectors of a turn alone and in context did worse than either.) False: every turn alone.
CONTEXTUAL_TURNS = True
CONTEXT_BELOW_WORDS = 15  # a turn this long or longer is embedded alone
_PREVIOUS_CHARS = 300  # the turn before is context, not content: its start is enough


def turn_in_context(turn: NewMemory, previous: NewMemory | None, tz_name: str | None) -> str:
    """A short turn with its date (in the user's zone), the turn before (its start) and both speakers; a
    long turn as it is."""
    if len(turn.text.split()) >= CONTEXT_BELOW_WORDS:
        return turn.text
    parts = []
    if turn.occurred_at is not None:
        parts.append(from_epoch(turn.occurred_at).astimezone(zone(tz_name)).strftime("%Y-%m-%d"))
    if previous is not None:
        parts.append(f"{previous.role}: {previous.text[:_PREVIOUS_CHARS]}")
    parts.append(f"{turn.role}: {turn.text}")
    return "\n".join(parts)
