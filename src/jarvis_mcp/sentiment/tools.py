"""analyze_sentiment: how a text, a received email, or the messages about a person feel."""

from __future__ import annotations

from typing import Annotated

from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from jarvis_mcp.handlers import Handlers
from jarvis_mcp.render import data_result
from jarvis_mcp.sentiment.models import SENTIMENT_NOTICE, MessageSentiment, SentimentReport
from jarvis_mcp.untrusted import data_block, defuse


def _line(s: MessageSentiment) -> str:
    extra = ", sarcasm" if s.sarcasm else ""
    return f"{s.label} (score {s.score:+.2f}, confidence {s.confidence:.2f}, {s.language}{extra})"


def _analyzer(name: str) -> str:
    return "lexicon (local: nothing left this machine)" if name == "lexicon" else name


def render(report: SentimentReport) -> CallToolResult:
    """Compact text: one line for a message; for a person a headline, a line per month and per message."""
    if report.sentiment is not None:
        head = f"Sentiment: {_line(report.sentiment)}. Analyzer: {_analyzer(report.analyzer)}."
        if report.email_id:  # the email's text is not repeated: only its id, which read_email takes
            head = f"Email {report.email_id}: {head}"
        return CallToolResult(content=[TextContent(type="text", text=defuse(head))],
                              structured_content=report.model_dump(mode="json"))
    who = f"{report.contact_name} (id {report.contact_id})" if report.contact_id else f"{report.contact_name}"
    if report.overall is None:
        head = f"No messages found about {who}. Looked in: {'; '.join(report.sources)}."
        return data_result(report, head, [data_block("contact", who)], SENTIMENT_NOTICE)
    head = (f"{report.total_items} messages, overall {_line(report.overall)}; trend: {report.direction}. "
            f"Analyzer: {_analyzer(report.analyzer)}. Looked in: {'; '.join(report.sources)}.")
    months = "\n".join(f"{m.month}: mean {m.mean_score:+.2f} ({m.positive} positive, {m.neutral} neutral, "
                       f"{m.negative} negative)" for m in report.months)
    lines = "\n".join(f"{i.at[:10]} {i.kind} {i.id} {i.label} {i.score:+.2f}{' sarcasm' if i.sarcasm else ''}: "
                      f"{i.excerpt}" for i in report.items)
    return data_result(report, head, [data_block("contact", who), months,
                                      data_block("messages", lines, newest="first", shown=len(report.items))],
                       SENTIMENT_NOTICE)


def register(h: Handlers) -> None:
    @h.tool(
        title="Analyze sentiment",
        description=(
            "How something feels: positive, neutral or negative, a score (-1..1) and a confidence, in Spanish or "
            "English (negation, contrast, emoji and common sarcasm handled). Give exactly one: `text`; `email_id` "
            "(from search_email); or `contact` (a name, id or email) for the trend of the messages about that "
            "person over time, per month and newest first. Use it for '¿cómo va la relación con Laura?'."
        ),
        annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                    open_world_hint=True),
    )
    def analyze_sentiment(
        text: Annotated[str | None, Field(description="A message to label (at most 5,000 characters).")] = None,
        contact: Annotated[str | None, Field(description="A contact's name, id or email address: their trend.")] = None,
        email_id: Annotated[str | None, Field(description="A received email's id, from search_email.")] = None,
        limit: Annotated[int, Field(description="For a contact: messages listed (1-50); the trend uses all.")] = 20,
    ) -> Annotated[CallToolResult, SentimentReport]:
        return render(h.scope().sentiment.analyze(text=text, contact=contact, email_id=email_id, limit=limit))
