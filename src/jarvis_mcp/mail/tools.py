"""The mail toolset: send_email, through the outbox (written before sending, sent once, confirmed when sensitive)."""

from __future__ import annotations

from typing import Annotated

from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from jarvis_mcp.handlers import Handlers
from jarvis_mcp.mail.models import EmailReceipt
from jarvis_mcp.render import json_result


def register(h: Handlers) -> None:
    @h.tool(
        title="Send email",
        description=(
            "Send an email for the user. Recipients are email addresses or the names (or ids) of the user's "
            "contacts; an ambiguous name fails with the candidates. Attachments are ids of the user's stored "
            "documents (list_documents), never file paths. An email with attachments, or to anyone who is not "
            "one of the user's contacts, is not sent at once: it comes back pending (confirmation_required) "
            "and goes out only after confirm_action. Calling again with the same arguments (or the same "
            "idempotency_key) returns the first result instead of sending twice. `delivered` is true only when "
            "a mail provider accepted it; without one the message is kept in the user's local outbox. To answer a "
            "received email, pass its id (search_email / read_email) as reply_to: the reply joins its thread, goes "
            "to its sender unless `to` says otherwise, and its subject is 'Re: ' the original's."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True),
    )
    def send_email(
        body: Annotated[str, Field(description="The message: plain text, or HTML when html is true.")],
        to: Annotated[list[str] | None, Field(description="Addresses ('ana@example.com', 'Ana <ana@example.com>') or "
                                                          "contact names; with reply_to, default: the sender.")] = None,
        subject: Annotated[str | None, Field(description="One line; with reply_to, default: 'Re: ' + the original's.")] = None,
        cc: Annotated[list[str] | None, Field(description="Addresses or contact names.")] = None,
        bcc: Annotated[list[str] | None, Field(description="Addresses or contact names; hidden from the others.")] = None,
        attachments: Annotated[list[str] | None, Field(description="Ids of the user's documents to attach.")] = None,
        reply_to_message_id: Annotated[str | None, Field(
            description="The Message-ID of the email this answers (e.g. <CAF123@mail.gmail.com>), to thread it.")] = None,
        reply_to: Annotated[str | None, Field(
            description="The id of a received email (from search_email) this answers, to reply in its thread.")] = None,
        html: Annotated[bool, Field(description="The body is HTML (a plain-text version is added).")] = False,
        idempotency_key: Annotated[str | None, Field(
            description="Your own key for this email (1-200 chars): a retry with it never sends twice.")] = None,
    ) -> Annotated[CallToolResult, EmailReceipt]:
        scope = h.scope()
        request = scope.mail.request_send(to, subject, body, cc, bcc, attachments, reply_to_message_id, html,
                                          idempotency_key, reply_to=reply_to)
        # Recipients resolved from contacts, and a replayed earlier email, echo stored text.
        return json_result(scope.mail.receipt(scope.actions.submit(request), request))
