"""What a call left behind once it ended: the provider's word (status, duration, transcript, summary) cached
on the call, written into the call's outbox result, linked to the contact's timeline and remembered as a
memory of kind `call`. Reached by polling (get_call) and by ElevenLabs' webhook; either may come first and
either may come twice, so only the first final outcome writes the memory and the timeline line."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from jarvis_mcp.calls.ports import CallRecord, CallState
from jarvis_mcp.errors import NotFound

KIND = "call_contact"
#: Provider call states after which nothing changes: the cached transcript is final.
FINAL = ("done", "failed")
_HEAD = {"es": ("Llamada con {who}", "{s} s", "sin resumen"), "en": ("Call with {who}", "{s}s", "no summary")}


class CallOutcomes:
    def __init__(self, user_id: str, store: Any, memory: Callable[[], Any] | None,
                 interactions: Callable[[], Any] | None) -> None:
        self.user_id = user_id
        self.store = store  # ActionStore & CallStore
        self.memory = memory  # () -> MemoryService, built only when a call ends
        self.interactions = interactions  # () -> InteractionRecorder (the contact's timeline)

    def record(self, call_id: str, conversation_id: str, state: CallState) -> CallRecord:
        """Cache the provider's latest word; on the first final one, keep the outcome everywhere it belongs.
        NotFound for anything but the user's own placed call with this conversation (another user's too)."""
        action = self.store.outbox_get(self.user_id, call_id) if call_id else None
        if action is None or action.kind != KIND or action.provider_ref != conversation_id:
            raise NotFound("call", call_id)
        before = self.store.call_get(self.user_id, call_id)
        record = CallRecord(call_id=call_id, conversation_id=conversation_id, status=state.status,
                            transcript=state.transcript, summary=state.summary,
                            duration_seconds=state.duration_seconds, ended_reason=state.ended_reason,
                            updated_at=time.time())
        if before is not None and before.status in FINAL:
            return before  # a replayed delivery or a late poll: the final word is already kept
        self.store.call_put(self.user_id, record)
        if state.status in FINAL:
            self._finished(action, record)
        return record

    def _finished(self, action: Any, record: CallRecord) -> None:
        args = action.arguments
        result = {**(action.result or {}), "call_status": record.status, "summary": record.summary,
                  "duration_seconds": record.duration_seconds, "ended_reason": record.ended_reason,
                  "turns": len(record.transcript)}
        self.store.outbox_transition(self.user_id, action.id, ["sent"], "sent", {"result": result})
        head, secs, none = _HEAD.get(args.get("language") or "en", _HEAD["en"])
        who = args.get("contact_name") or args["to_number"]
        parts = [head.format(who=who)]
        if record.duration_seconds is not None:
            parts.append(secs.format(s=record.duration_seconds))
        text = f"{' · '.join(parts)}: {record.summary or none} ({record.status})"
        if self.memory is not None:
            self.memory().remember_call(text, ["call"], action.created_at)
        if self.interactions is not None:
            self.interactions().record(args.get("contact_id") or args["to_number"], "call", action.id,
                                       summary=record.summary or text)
