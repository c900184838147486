"""Step-up confirmation: the voice key, and confirming, cancelling and checking pending actions."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, Elicit, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from jarvis_mcp.actions.models import ActionOutcome, VoiceKeyStatus
from jarvis_mcp.actions.out_of_band import approval_url, approve_out_of_band
from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.handlers import Handlers, caller_scope
from jarvis_mcp.render import json_result, json_text


class ActionList(BaseModel):
    actions: list[ActionOutcome]


class HumanConfirmation(BaseModel):
    confirm: bool = Field(description="Carry out this action now?")


def ask_the_person(action_id: str, ctx: Context, phrase: str | None = None) -> Elicit[HumanConfirmation] | None:
    """Without a phrase, ask the human in the client's own dialog, where the client can show one.

    Only a yes/no is asked: the spec forbids form elicitation for secrets, so the voice key itself is
    never requested this way.
    """
    if phrase is not None or approval_url(ctx, action_id) is not None:
        return None  # the phrase, or the person's own page (URL mode) instead of a yes/no dialog
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return None
    summary = caller_scope(ctx.request_context.lifespan_context).actions.pending_summary(action_id)
    if summary is None:
        return None
    return Elicit(f"Your assistant asks to: {summary}. Allow it?", HumanConfirmation)


def register(h: Handlers) -> None:
    @h.tool(
        title="Set voice key",
        description=(
            "Set or change the user's voice key: a secret phrase (at least 3 words) they say to confirm "
            "important actions. Stored only as a one-way hash. Changing it needs the current phrase."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def set_voice_key(
        phrase: Annotated[str, Field(description="The new secret phrase, as the user said it.")],
        current_phrase: Annotated[str | None, Field(description="The current phrase, when one is set.")] = None,
    ) -> VoiceKeyStatus:
        return h.scope().voice_key.set(phrase, current_phrase)

    @h.tool(
        title="Confirm action",
        description=(
            "Carry out a pending action after the user confirmed it. With the user's voice key phrase it runs "
            "at once. Without it: clients with URL elicitation (protocol 2025-11-25) open the approval page "
            "and this waits up to 2 min for the decision (else status stays pending: check get_action); "
            "others get a yes/no dialog where supported. Single use."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True),
    )
    def confirm_action(
        action_id: Annotated[str, Field(description="The pending action's id.")],
        person: Annotated[ElicitationResult[HumanConfirmation], Resolve(ask_the_person)],
        ctx: Context,
        phrase: Annotated[str | None, Field(description="The user's voice key, as they said it.")] = None,
    ) -> Annotated[CallToolResult, ActionOutcome]:
        # Action summaries and results quote contact names, subjects, event titles.
        scope = h.scope()
        actions = scope.actions
        if phrase is not None:
            return json_result(actions.confirm(action_id, phrase))
        if (url := approval_url(ctx, action_id)) is not None:
            return json_result(approve_out_of_band(scope, ctx, action_id, url))
        answer = _answer(person)
        if answer is None:
            actions.check_pending(action_id)  # a missing, finished or expired action says so first
            raise InvalidInput("phrase", "give the user's voice key phrase (this client cannot show a confirmation dialog)")
        return json_result(actions.confirm_by_person(action_id, answer))

    @h.tool(
        title="Cancel action",
        description="Drop a pending action; nothing is carried out.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False),
    )
    def cancel_action(
        action_id: Annotated[str, Field(description="The pending action's id.")],
    ) -> Annotated[CallToolResult, ActionOutcome]:
        return json_result(h.scope().actions.cancel(action_id))

    @h.tool(
        title="Get action",
        description="Where an action stands (pending, sent, failed, ...), with the provider's reference.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def get_action(
        action_id: Annotated[str, Field(description="The action's id.")],
    ) -> Annotated[CallToolResult, ActionOutcome]:
        return json_result(h.scope().actions.get(action_id))

    @h.tool(
        title="List actions",
        description="The user's outbox: recent actions (emails, events, calls, deletions) and their status.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def list_actions(
        limit: Annotated[int, Field(description="How many (1-200).")] = 20,
    ) -> Annotated[CallToolResult, ActionList]:
        return json_result(ActionList(actions=h.scope().actions.list(limit)))

    @h.resource("jarvis://me/outbox", name="outbox", mime_type="application/json",
                description="Your actions (emails, events, calls, deletions) and their status.")
    def outbox() -> str:
        return json_text(ActionList(actions=h.scope().actions.list(100)))



def _answer(person: Any) -> bool | None:
    if isinstance(person, AcceptedElicitation) and isinstance(person.data, HumanConfirmation):
        return person.data.confirm
    if person is not None and not isinstance(person, AcceptedElicitation):
        return False  # declined or cancelled in the dialog
    return None

