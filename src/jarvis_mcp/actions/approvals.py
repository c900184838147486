"""Approvals out of band: the person approves (with the voice key) or rejects a pending action on their own
page, and confirm_action's URL-mode elicitation waits for that decision. No web or MCP imports.

Approving is ActionService.confirm itself: the same Argon2id check, the same atomic lockout
(claim_voice_key_attempt), the same single-use release, so a page and a model share one budget of guesses.
"""

from __future__ import annotations

import time

from jarvis_mcp.actions.models import ActionOutcome
from jarvis_mcp.actions.service import ActionService

PENDING = "pending_confirmation"
#: How often a waiting confirm_action looks at the store: the decision may be made by another process.
POLL_S = 0.25


class Approvals:
    """Every status change is told by ActionService itself (Change "action"), so pages and subscribers update."""

    def __init__(self, actions: ActionService) -> None:
        self.actions = actions

    def pending(self) -> list[ActionOutcome]:
        """What waits for the person, newest first (expired ones are not shown: they can no longer run)."""
        now = time.time()
        return [a for a in self.actions.list(200)
                if a.status == PENDING and (a.expires_at is None or a.expires_at.timestamp() > now)]

    def get(self, action_id: str) -> ActionOutcome:
        return self.actions.get(action_id)  # NotFound for another user's id too

    def approve(self, action_id: str, phrase: str) -> ActionOutcome:
        return self.actions.confirm(action_id, phrase)

    def reject(self, action_id: str) -> ActionOutcome:
        return self.actions.cancel(action_id)

    def wait_for_decision(self, action_id: str, timeout_s: float) -> ActionOutcome:
        """The action once it leaves pending (approved and run, rejected, expired), or as it is at the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            outcome = self.actions.get(action_id)
            if outcome.status != PENDING or time.monotonic() >= deadline:
                return outcome
            if outcome.expires_at is not None and outcome.expires_at.timestamp() <= time.time():
                return outcome
            time.sleep(POLL_S)
