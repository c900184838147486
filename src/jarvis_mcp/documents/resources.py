"""jarvis://me/documents resources: the caller's own documents as a list, as text, and as original bytes."""

from __future__ import annotations

from jarvis_mcp.documents.models import DOCUMENT_NOTICE
from jarvis_mcp.handlers import Handlers
from jarvis_mcp.render import json_text
from jarvis_mcp.untrusted import data_block


def register(h: Handlers) -> None:
    @h.resource(
        "jarvis://me/documents", name="documents", mime_type="application/json",
        description="Your stored documents (newest 100), with their sizes, types and resource URIs.",
    )
    def documents() -> str:
        return json_text(h.scope().documents.list(limit=100))

    @h.resource(
        "jarvis://me/documents/{document_id}", name="document", mime_type="text/plain",
        description="The text of one of your documents (extracted from PDF / HTML; Markdown as written).",
    )
    def document(document_id: str) -> str:
        text = h.scope().documents.text(document_id)
        # Clients paste a resource into the model's context as it is: it carries its own marking.
        return f"{DOCUMENT_NOTICE}\n{data_block('document', text, id=document_id)}"

    @h.resource(
        "jarvis://me/documents/{document_id}/original", name="document-original",
        mime_type="application/octet-stream",
        description="The original file of one of your documents, as stored (its type is in jarvis://me/documents).",
    )
    def original(document_id: str) -> bytes:
        return h.scope().documents.original(document_id)[1]
