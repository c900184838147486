"""The mail toolset's models: what its tools return."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from jarvis_mcp.actions.models import ActionOutcome


class EmailRecipient(BaseModel):
    header: Literal["to", "cc", "bcc"]
    address: str
    name: str | None = None
    contact_id: str | None = Field(None, description="The contact this address belongs to; null: not a contact.")


class EmailReceipt(ActionOutcome):
    """send_email's answer: the action (sent, kept in the outbox, failed, or waiting for confirmation)."""

    message_id: str = Field(description="The Message-ID header; pass it as reply_to_message_id to reply in thread.")
    recipients: list[EmailRecipient] = Field(description="Who it goes to, names resolved to addresses.")
    attachments: list[str] = Field(default_factory=list, description="File names of the attached documents.")
