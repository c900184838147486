"""ElevenLabs at the HTTP boundary: an httpx.MockTransport that records every request the SDK sends and
answers from per-route scripts (or sensible defaults), so tests assert method, path and JSON body."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from jarvis_mcp.adapters.caller_elevenlabs import ElevenLabsCaller

API_KEY = "xi-test-key"
PHONE_ID = "phnum_test"


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    body: Any
    api_key: str | None


@dataclass
class FakeElevenLabs:
    route: str = "twilio"  # the phone number's provider: twilio | sip_trunk
    requests: list[Seen] = field(default_factory=list)
    scripts: dict[tuple[str, str], deque[httpx.Response]] = field(default_factory=lambda: defaultdict(deque))
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)  # conversation id -> GET answer
    placed_for: dict[str, str] = field(default_factory=dict)  # call tag (user_id) -> conversation id
    agents: int = 0
    lost_answers: dict[tuple[str, str], int] = field(default_factory=dict)  # handled, then the answer is lost

    def lose_answer(self, method: str, path: str, times: int = 1) -> None:
        """The request reaches ElevenLabs and is acted on, but the client times out waiting for the answer."""
        self.lost_answers[(method, path)] = times

    def script(self, method: str, path: str, *responses: httpx.Response) -> None:
        """Answer the next requests to this route with these responses, in order, before the defaults."""
        self.scripts[(method, path)].extend(responses)

    def of(self, method: str, path_start: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_start)]

    def handler(self, request: httpx.Request) -> httpx.Response:
        response = self._answer(request)
        key = (request.method, request.url.path)
        if self.lost_answers.get(key):
            self.lost_answers[key] -= 1
            raise httpx.ReadTimeout("timed out", request=request)
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen = Seen(request.method, request.url.path, dict(request.url.params), body, request.headers.get("xi-api-key"))
        self.requests.append(seen)
        queued = self.scripts.get((seen.method, seen.path))
        if queued:
            response = queued.popleft()
            if response.status_code == 200 and seen.path.endswith("/outbound-call"):
                self._remember(body)
            return response
        return self.default(seen)

    def default(self, seen: Seen) -> httpx.Response:
        path = seen.path
        if seen.method == "GET" and path == f"/v1/convai/phone-numbers/{PHONE_ID}":
            answer: dict[str, Any] = {"provider": self.route, "phone_number": "+15550001111", "label": "Jarvis",
                                      "phone_number_id": PHONE_ID}
            if self.route == "sip_trunk":
                answer["livekit_stack"] = "standard"
            return httpx.Response(200, json=answer)
        if seen.method == "POST" and path == "/v1/convai/agents/create":
            self.agents += 1
            return httpx.Response(200, json={"agent_id": f"agent_{self.agents}"})
        if seen.method == "PATCH" and path.startswith("/v1/convai/agents/"):
            return httpx.Response(200, json={"agent_id": path.rsplit("/", 1)[1], "name": seen.body.get("name", ""),
                                             "conversation_config": seen.body.get("conversation_config", {}),
                                             "metadata": {"created_at_unix_secs": 1}, "tags": []})
        if seen.method == "POST" and path.endswith("/outbound-call"):
            conversation = self._remember(seen.body)
            extra = {"callSid": "CA123"} if "twilio" in path else {"sip_call_id": "sip-123"}
            return httpx.Response(200, json={"success": True, "message": "Call initiated",
                                             "conversation_id": conversation, **extra})
        if seen.method == "GET" and path == "/v1/convai/conversations":
            tag = seen.params.get("user_id", "")
            found = [{"agent_id": "agent_1", "conversation_id": self.placed_for[tag], "start_time_unix_secs": 1,
                      "call_duration_secs": 0, "message_count": 0, "status": "in-progress",
                      "call_successful": "unknown"}] if tag in self.placed_for else []
            return httpx.Response(200, json={"conversations": found, "has_more": False})
        if seen.method == "GET" and path.startswith("/v1/convai/conversations/"):
            conversation = path.rsplit("/", 1)[1]
            if conversation in self.conversations:
                return httpx.Response(200, json=self.conversations[conversation])
            return httpx.Response(404, json={"detail": {"status": "conversation_not_found",
                                                        "message": "Conversation not found"}})
        return httpx.Response(404, json={"detail": "Not Found"})

    def _remember(self, body: dict[str, Any]) -> str:
        conversation = f"conv_{len(self.placed_for) + 1}"
        tag = (body.get("conversation_initiation_client_data") or {}).get("user_id")
        if tag:
            self.placed_for[tag] = conversation
        return conversation

    def caller(self, *, agent_id: str | None = None, voice_id: str | None = "voice_default",
               **kwargs: Any) -> ElevenLabsCaller:
        client = httpx.Client(transport=httpx.MockTransport(self.handler))
        return ElevenLabsCaller(API_KEY, PHONE_ID, voice_id=voice_id, agent_id=agent_id, httpx_client=client,
                                sleep=lambda s: None, **kwargs)


def conversation(conversation_id: str, status: str = "done", turns: list[tuple[str, str]] | None = None,
                 summary: str | None = "Ana confirmed dinner on Friday at 9.") -> dict[str, Any]:
    """A GET /v1/convai/conversations/{id} answer as ElevenLabs sends it (the fields the adapter reads)."""
    transcript = [{"role": role, "message": text, "time_in_call_secs": 3 * i}
                  for i, (role, text) in enumerate(turns or [])]
    answer: dict[str, Any] = {
        "agent_id": "agent_1", "conversation_id": conversation_id, "status": status, "transcript": transcript,
        "metadata": {"start_time_unix_secs": 1700000000, "call_duration_secs": 42,
                     "termination_reason": "Call ended by remote party"},
        "has_audio": True, "has_user_audio": True, "has_response_audio": True, "has_auxiliary_audio": False,
    }
    if summary is not None:
        answer["analysis"] = {"call_successful": "success", "transcript_summary": summary}
    return answer
