"""ElevenLabs' post-call webhook: the signature check and the reading of the event, with no web framework.

ElevenLabs signs each delivery with `ElevenLabs-Signature: t=<unix seconds>,v0=<hex HMAC-SHA256 of
"<t>.<raw body>">`. The SDK's own construct_event compares with `!=` and accepts any future timestamp, so
the check is done here: constant-time compare, and a timestamp more than 30 minutes off either way is stale
(a captured delivery cannot be replayed later; the same delivery twice is harmless, see CallService).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from jarvis_mcp.calls.ports import CallState

TOLERANCE_S = 30 * 60
HEADER = "ElevenLabs-Signature"
_STATUS = {"in-progress": "in_progress"}


class WebhookRejected(Exception):
    """Answer 401: missing, malformed, wrong or stale signature. The reason is for the log, not the sender."""


@dataclass(frozen=True)
class CallOutcome:
    call_id: str  # our outbox action id: the tag (user_id) the call was placed with
    conversation_id: str
    state: CallState


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The header value ElevenLabs would send (used by tests and by tools that replay deliveries)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v0={digest}"


def verify(body: bytes, header: str | None, secret: str, now: float | None = None) -> dict[str, Any]:
    if not secret:
        raise WebhookRejected("no webhook secret configured (JARVIS_ELEVENLABS_WEBHOOK_SECRET)")
    if not header:
        raise WebhookRejected("missing signature")
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v0", "")
    if not stamp.isdigit() or not given:
        raise WebhookRejected("malformed signature")
    if abs((time.time() if now is None else now) - int(stamp)) > TOLERANCE_S:
        raise WebhookRejected("stale signature")
    expected = sign(body, secret, int(stamp)).split("v0=", 1)[1]
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise WebhookRejected("signature does not match")
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookRejected("body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookRejected("body is not a JSON object")
    return event


def outcome(event: dict[str, Any]) -> CallOutcome | None:
    """The call outcome in a post_call_transcription event; None for events about anything else."""
    data = event.get("data")
    if event.get("type") != "post_call_transcription" or not isinstance(data, dict):
        return None
    client_data = data.get("conversation_initiation_client_data") or {}
    call_id = data.get("user_id") or client_data.get("user_id")
    conversation_id = data.get("conversation_id")
    if not call_id or not conversation_id:
        return None
    metadata = data.get("metadata") or {}
    analysis = data.get("analysis") or {}
    turns = tuple({"role": str(t.get("role")), "text": t["message"], "at_seconds": t.get("time_in_call_secs")}
                  for t in data.get("transcript") or () if isinstance(t, dict) and t.get("message"))
    status = str(data.get("status") or "done")
    return CallOutcome(str(call_id), str(conversation_id), CallState(
        status=_STATUS.get(status, status), transcript=turns, summary=analysis.get("transcript_summary"),
        duration_seconds=metadata.get("call_duration_secs"), ended_reason=metadata.get("termination_reason")))
