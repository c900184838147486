"""confirm_action through MCP URL-mode elicitation: the client opens the person's approval page
(/app/approvals/<id>), and the action runs when they approve it there with their voice key.

Per protocol era:
- up to 2025-11-25, a client that declares elicitation.url gets an `elicitation/create` (mode "url") mid-call;
  on "accept" the call waits up to APPROVAL_WAIT_S for the decision (read from the store, so a page served by
  another process counts), then answers the outcome and sends notifications/elicitation/complete. Past the
  wait it answers the action still pending, for get_action / list_actions to follow. "decline" rejects the
  action; "cancel" leaves it pending.
- 2026-07-28 has no mid-call request, and the SDK carries only form questions in its InputRequiredResult, so
  such clients get the yes/no form dialog (ask_the_person), then the phrase, as before.
Only actions waiting for confirmation go this way; an unknown outcome's resend keeps the dialog or phrase.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import anyio.from_thread
from mcp.server.elicitation import AcceptedUrlElicitation, DeclinedElicitation
from mcp.server.mcpserver import Context
from mcp_types.version import is_version_at_least

from jarvis_mcp.actions.approvals import PENDING, Approvals
from jarvis_mcp.actions.models import ActionOutcome
from jarvis_mcp.handlers import caller_scope
from jarvis_mcp.scope import UserScope

log = logging.getLogger(__name__)

APPROVAL_WAIT_S = 120.0
_NO_BACK_CHANNEL = "2026-07-28"


def _origin(ctx: Context) -> str | None:
    """Where the person's pages are served: the public URL, else the HTTP request this call came in on."""
    settings = ctx.request_context.lifespan_context.settings
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        return f"{parts.scheme}://{parts.netloc}"
    request: Any = ctx.request_context.request
    base = getattr(request, "base_url", None)  # stdio and in-memory calls have no HTTP request: no page
    return str(base).rstrip("/") if base is not None else None


def approval_url(ctx: Context, action_id: str) -> str | None:
    """The page to send the person to, when this client can be sent there mid-call; else None."""
    version = ctx.protocol_version
    if version is None or is_version_at_least(version, _NO_BACK_CHANNEL):
        return None
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None or capabilities.elicitation.url is None:
        return None
    origin = _origin(ctx)
    if origin is None:
        return None
    scope = caller_scope(ctx.request_context.lifespan_context)
    record = scope.store.outbox_get(scope.user_id, action_id)
    if record is None or record.status != PENDING:
        return None  # missing (or another user's), decided, or a resend: the usual path says so
    return f"{origin}/app/approvals/{quote(action_id, safe='')}"


def approve_out_of_band(scope: UserScope, ctx: Context, action_id: str, url: str) -> ActionOutcome:
    """Runs in the tool's worker thread: the elicitation is sent on the server's loop, the wait polls here."""
    approvals = Approvals(scope.actions)
    scope.actions.check_pending(action_id)  # expired meanwhile: says so
    elicitation_id = f"approve-{uuid.uuid4().hex}"
    message = ("Your assistant asks to carry out an action that needs your approval. Open the page to see "
               "exactly what it is, and approve it with your voice key or reject it.")
    answer = anyio.from_thread.run(ctx.elicit_url, message, url, elicitation_id)
    if isinstance(answer, DeclinedElicitation):
        return approvals.reject(action_id)  # the person said no to the whole thing
    if not isinstance(answer, AcceptedUrlElicitation):
        return _still_pending(approvals.get(action_id), url, "The person closed the request without deciding.")
    outcome = approvals.wait_for_decision(action_id, APPROVAL_WAIT_S)
    if outcome.status == PENDING:
        return _still_pending(outcome, url, f"No decision within {int(APPROVAL_WAIT_S)} s.")
    try:
        anyio.from_thread.run(ctx.request_context.session.send_elicit_complete, elicitation_id)
    except Exception:  # a courtesy: the answer below carries the outcome anyway
        log.debug("could not send elicitation/complete", exc_info=True)
    return outcome


def _still_pending(outcome: ActionOutcome, url: str, why: str) -> ActionOutcome:
    how = (f"Approval pending. {why} The person can still approve or reject it at {url} until it expires; "
           "check with get_action (or list_actions) before telling them it was done.")
    return outcome.model_copy(update={"how_to_confirm": how})
