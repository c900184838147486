"""The default Caller: places nothing. The request is recorded (the outbox row keeps it) and the result
says plainly that no call was made and why, like a web framework's console email backend."""

from __future__ import annotations

from jarvis_mcp.calls.ports import AgentSpec, CallerError, CallRequest, CallState, PlacedCall

NOT_PLACED = "no call provider configured (dry run)"
HOW_TO_CALL = "Set JARVIS_CALLER=elevenlabs (with an ElevenLabs API key and phone number) to place real calls."


class DryRunCaller:
    provider = "dry_run"
    per_contact_agents = False

    def default_agent(self) -> str | None:
        return None

    def ensure_agent(self, spec: AgentSpec) -> str:
        raise CallerError("the dry run creates no voice agents")

    def update_agent(self, agent_id: str, spec: AgentSpec) -> None:
        raise CallerError("the dry run has no voice agents to update")

    def place(self, request: CallRequest) -> PlacedCall:
        return PlacedCall(
            placed=False, provider=self.provider, ref=None, status="not_placed",
            message=f"Not placed: {NOT_PLACED}. {HOW_TO_CALL}",
            detail={"reason": NOT_PLACED, "would_call": request.to_number, "agent_id": request.agent_id,
                    "dynamic_variables": request.dynamic_variables},
        )

    def status(self, ref: str) -> CallState:
        return CallState(status="not_placed")

    def find(self, call_id: str) -> PlacedCall | None:
        # It never places anything, so after any interruption the answer is certain: not placed.
        return PlacedCall(placed=False, provider=self.provider, ref=None, status="not_placed",
                          message=f"Not placed: {NOT_PLACED}.", detail={"reason": NOT_PLACED})
