"""Calls placed by ElevenLabs Conversational AI agents, through the official `elevenlabs` SDK.

The configured agent phone number decides the route: a Twilio number goes through
`conversational_ai.twilio.outbound_call`, a SIP-trunk number through `conversational_ai.sip_trunk.outbound_call`.
Each call carries `conversation_initiation_client_data`: the purpose and names as dynamic variables, the
first message and language as overrides, and `user_id` set to the outbox action id, which tags the call so
a retry or a recovery can ask ElevenLabs whether it was already placed instead of calling twice.

Retries are ours, not the SDK's (its own are turned off per request): 429 and 503 are refusals that did
nothing and are simply retried; any other 5xx or a timeout may have placed the call, so before sending
again the tag is looked up. Everything is bounded by a time budget well below the outbox's stale limit.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from elevenlabs import ElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.types import (
    AgentConfig,
    AgentConfigOverrideConfig,
    AgentConfigOverrideInput,
    AgentPlatformSettingsRequestModel,
    ConversationalConfig,
    ConversationConfigClientOverrideConfigInput,
    ConversationConfigClientOverrideInput,
    ConversationInitiationClientDataConfigInput,
    ConversationInitiationClientDataRequestInput,
    PromptAgentApiModelOutput,
    TtsConversationalConfigOutput,
)

from jarvis_mcp.calls.ports import AgentSpec, CallerError, CallRequest, CallState, PlacedCall

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Refusals that did nothing: safe to send again as they are.
_REFUSED = {429, 503}
#: Failures after which the provider may or may not have acted.
_UNSURE = {408, 500, 502, 504}
_ROUTES = {"twilio": "twilio", "sip_trunk": "sip_trunk"}
_STATUS = {"in-progress": "in_progress"}
DEFAULT_PERSONALITY = "warm, concise and professional"
PROMPT = """You are a voice assistant placing a phone call on behalf of {{user_name}} to {{contact_name}}.
The purpose of this call: {{purpose}}
Say early on that you are an AI assistant calling for {{user_name}}. Keep to the purpose, be brief and
polite, and end the call once it is done. Do not share anything else about {{user_name}}.
Personality: %s"""
FIRST_MESSAGE = "Hello {{contact_name}}, this is {{user_name}}'s assistant calling."
UNCERTAIN = ("ElevenLabs failed while placing the call and cannot say whether it was placed; it was not sent "
             "again — check the ElevenLabs call history before asking again")


class _Retry(Exception):
    def __init__(self, failure: str, *, unsure: bool, wait: float | None = None) -> None:
        super().__init__(failure)
        self.unsure = unsure
        self.wait = wait


class ElevenLabsCaller:
    provider = "elevenlabs"
    per_contact_agents = True

    def __init__(self, api_key: str, phone_number_id: str, *, voice_id: str | None = None,
                 agent_id: str | None = None, httpx_client: httpx.Client | None = None,
                 max_attempts: int = 4, budget_s: float = 45.0, request_timeout_s: int = 15,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = ElevenLabs(api_key=api_key, httpx_client=httpx_client, timeout=request_timeout_s)
        self.phone_number_id = phone_number_id
        self.voice_id = voice_id
        self.agent_id = agent_id
        self.max_attempts = max_attempts
        self.budget_s = budget_s
        self.request_timeout_s = request_timeout_s
        self.sleep = sleep
        self._route: str | None = None

    # -- the port ---------------------------------------------------------------------------------

    def default_agent(self) -> str | None:
        if not self.agent_id:
            raise CallerError(
                "calling a number that is not one of the user's contacts needs a default voice agent: set "
                "JARVIS_ELEVENLABS_AGENT_ID (or save the number as a contact first: contacts get their own agent)"
            )
        return self.agent_id

    def ensure_agent(self, spec: AgentSpec) -> str:
        config = self._config(spec, first_message=FIRST_MESSAGE, language=spec.language or "en")
        # Each call may set its own first message and language: the agent must allow those overrides.
        platform = AgentPlatformSettingsRequestModel(overrides=ConversationInitiationClientDataConfigInput(
            conversation_config_override=ConversationConfigClientOverrideConfigInput(
                agent=AgentConfigOverrideConfig(first_message=True, language=True),
            ),
        ))
        # A retry after a failure that did create it leaves one unused agent behind: harmless, unlike a call.
        created = self._retrying("creating the voice agent", lambda options: self.client.conversational_ai.agents.create(
            conversation_config=config, platform_settings=platform, name=f"Jarvis: {spec.contact_name}"[:100],
            tags=["jarvis", f"contact:{spec.contact_id}"], request_options=options,
        ))
        return created.agent_id

    def update_agent(self, agent_id: str, spec: AgentSpec) -> None:
        # PATCH only what the contact's configuration decides: the first message and language stay as made.
        self._retrying("updating the voice agent", lambda options: self.client.conversational_ai.agents.update(
            agent_id, conversation_config=self._config(spec), name=f"Jarvis: {spec.contact_name}"[:100],
            request_options=options))

    def _config(self, spec: AgentSpec, **agent: Any) -> ConversationalConfig:
        voice = spec.voice or self.voice_id
        prompt = PROMPT % (spec.personality or DEFAULT_PERSONALITY)
        if spec.relationship:
            prompt += f"\nWho {{{{contact_name}}}} is to {{{{user_name}}}}: {spec.relationship[:200]}"
        # Fields left out, not sent as null: ElevenLabs then applies its own defaults (its default voice).
        return ConversationalConfig(
            agent=AgentConfig(**agent, prompt=PromptAgentApiModelOutput(prompt=prompt)),
            **({"tts": TtsConversationalConfigOutput(voice_id=voice)} if voice else {}),
        )

    def place(self, request: CallRequest) -> PlacedCall:
        if not request.agent_id:
            raise CallerError("no voice agent for this call")
        route = self._phone_route()
        overrides = {k: v for k, v in (("first_message", request.first_message), ("language", request.language)) if v}
        data = ConversationInitiationClientDataRequestInput(
            **({"conversation_config_override": ConversationConfigClientOverrideInput(
                agent=AgentConfigOverrideInput(**overrides))} if overrides else {}),
            user_id=request.call_id, dynamic_variables=dict(request.dynamic_variables),
        )
        endpoint = (self.client.conversational_ai.twilio if route == "twilio"
                    else self.client.conversational_ai.sip_trunk).outbound_call

        def send(options: dict[str, Any]) -> Any:
            return endpoint(agent_id=request.agent_id, agent_phone_number_id=self.phone_number_id,
                            to_number=request.to_number, conversation_initiation_client_data=data,
                            request_options=options)

        deadline = time.monotonic() + self.budget_s  # lookups included: one budget for the whole placement

        def already_placed() -> PlacedCall | None:
            found = self._find(request.call_id, deadline)
            if found is None:
                raise CallerError(UNCERTAIN, ambiguous=True)
            return found if found.placed else None

        answer = self._retrying("placing the call", send, before_resend=already_placed, deadline=deadline)
        if isinstance(answer, PlacedCall):
            return answer
        if not answer.success:
            raise CallerError(f"ElevenLabs did not place the call: {answer.message}")
        detail: dict[str, Any] = {"route": route}
        for key in ("call_sid", "sip_call_id"):
            if getattr(answer, key, None):
                detail[key] = getattr(answer, key)
        return PlacedCall(placed=True, provider=self.provider, ref=answer.conversation_id, status="initiated",
                          message=answer.message or "The call is being placed.", detail=detail)

    def status(self, ref: str) -> CallState:
        conv = self._retrying("reading the call", lambda options: self.client.conversational_ai.conversations.get(
            ref, request_options=options))
        turns = tuple(
            {"role": str(t.role), "text": t.message, "at_seconds": t.time_in_call_secs}
            for t in conv.transcript or () if t.message
        )
        metadata = conv.metadata
        return CallState(
            status=_STATUS.get(str(conv.status), str(conv.status)), transcript=turns,
            summary=getattr(conv.analysis, "transcript_summary", None) if conv.analysis else None,
            duration_seconds=getattr(metadata, "call_duration_secs", None) if metadata else None,
            ended_reason=getattr(metadata, "termination_reason", None) if metadata else None,
        )

    def find(self, call_id: str) -> PlacedCall | None:
        return self._find(call_id, None)

    def _find(self, call_id: str, deadline: float | None) -> PlacedCall | None:
        try:
            page = self._retrying("looking the call up", lambda options: self.client.conversational_ai.conversations.list(
                user_id=call_id, page_size=1, request_options=options), deadline=deadline)
        except CallerError as exc:
            log.warning("cannot tell whether call %s was placed: %s", call_id, exc)
            return None
        if page.conversations:
            conv = page.conversations[0]
            return PlacedCall(placed=True, provider=self.provider, ref=conv.conversation_id,
                              status=_STATUS.get(str(conv.status), str(conv.status)),
                              message="The call was placed (ElevenLabs has it).")
        return PlacedCall(placed=False, provider=self.provider, ref=None, status="not_placed",
                          message="Not placed: ElevenLabs has no call for this request.")

    # -- internals --------------------------------------------------------------------------------

    def _phone_route(self) -> str:
        if self._route is None:
            try:
                number = self._retrying("reading the agent phone number", lambda options: (
                    self.client.conversational_ai.phone_numbers.get(self.phone_number_id, request_options=options)))
            except CallerError as exc:
                raise CallerError(f"JARVIS_ELEVENLABS_PHONE_NUMBER_ID: {exc}") from None
            provider = str(getattr(number, "provider", ""))
            if provider not in _ROUTES:
                raise CallerError(f"JARVIS_ELEVENLABS_PHONE_NUMBER_ID: the number's provider is {provider!r}; "
                                  "outbound calls go through a Twilio or SIP trunk number")
            self._route = _ROUTES[provider]
        return self._route

    def _retrying(self, what: str, send: Callable[[dict[str, Any]], T],
                  before_resend: Callable[[], PlacedCall | None] | None = None,
                  deadline: float | None = None) -> T | PlacedCall:
        """send(request_options) with bounded retries, backoff and jitter. A 4xx is final, with ElevenLabs'
        message. Where the provider may have acted (before_resend given), ask it before sending again."""
        deadline = deadline if deadline is not None else time.monotonic() + self.budget_s
        options: dict[str, Any] = {"max_retries": 0, "timeout_in_seconds": self.request_timeout_s}
        attempt = 0
        while True:
            attempt += 1
            try:
                try:
                    return send(options)
                except ApiError as exc:
                    raise _classify(exc, what) from None
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    raise _Retry(f"cannot connect ({type(exc).__name__})", unsure=False) from None
                except httpx.TransportError as exc:
                    raise _Retry(f"no answer ({type(exc).__name__})", unsure=True) from None
            except _Retry as failure:
                delay = failure.wait if failure.wait is not None else min(8.0, 0.5 * 2 ** (attempt - 1))
                delay *= 1 + random.random() * 0.25  # jitter: concurrent retries do not arrive together
                if attempt >= self.max_attempts or time.monotonic() + delay > deadline:
                    if failure.unsure and before_resend is not None:
                        found = before_resend()
                        if found is not None:
                            return found
                        raise CallerError(f"ElevenLabs is unavailable ({failure}) while {what}; it was not placed "
                                          f"after {attempt} attempts") from None
                    raise CallerError(f"ElevenLabs is unavailable ({failure}) while {what}, after {attempt} "
                                      "attempts; try again later") from None
                log.info("ElevenLabs %s failed (%s); retrying in %.1fs", what, failure, delay)
                self.sleep(delay)
                if failure.unsure and before_resend is not None:
                    found = before_resend()
                    if found is not None:
                        return found


def _classify(exc: ApiError, what: str) -> Exception:
    status = exc.status_code or 0
    message = _message(exc)
    if status in _REFUSED:
        return _Retry(f"HTTP {status}: {message}", unsure=False, wait=_retry_after(exc))
    if status in _UNSURE or status >= 500:
        return _Retry(f"HTTP {status}: {message}", unsure=True)
    if status in (401, 403):
        return CallerError(f"ElevenLabs refused the credentials while {what} (HTTP {status}: {message}); "
                           "check JARVIS_ELEVENLABS_API_KEY", auth=True)
    return CallerError(f"ElevenLabs refused {what} (HTTP {status}): {message}")


def _message(exc: ApiError) -> str:
    """The provider's own words, from its usual error shapes ({"detail": {...} | [...] | "..."})."""
    body = exc.body
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        text = detail.get("message") or detail.get("status") or str(detail)
    elif isinstance(detail, list):
        text = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" if isinstance(d, dict) else str(d)
            for d in detail
        )
    elif isinstance(detail, str) and detail.strip():
        text = detail.strip()
    else:
        text = "no message"
    return str(text)[:500]


def _retry_after(exc: ApiError) -> float | None:
    value = (exc.headers or {}).get("retry-after") or (exc.headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
