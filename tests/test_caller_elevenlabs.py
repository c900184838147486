"""The ElevenLabs Caller at the HTTP boundary: the exact requests the official SDK sends (method, path, JSON
body) for Twilio and SIP-trunk numbers, agent creation, conversation status, and the retry policy."""

from __future__ import annotations

import httpx
import pytest
from fake_elevenlabs import API_KEY, PHONE_ID, FakeElevenLabs, conversation

from jarvis_mcp.adapters.caller_elevenlabs import FIRST_MESSAGE, PROMPT
from jarvis_mcp.calls.ports import AgentSpec, CallerError, CallRequest

REQUEST = CallRequest(
    call_id="11111111-2222-4333-8444-555555555555", to_number="+34612345678", agent_id="agent_ana",
    purpose="Confirm dinner on Friday", first_message="Hola Ana, soy el asistente de Alice", language="es",
    dynamic_variables={"purpose": "Confirm dinner on Friday", "contact_name": "Ana López", "user_name": "Alice"},
)
CLIENT_DATA = {
    "conversation_config_override": {"agent": {"first_message": "Hola Ana, soy el asistente de Alice",
                                               "language": "es"}},
    "user_id": REQUEST.call_id,
    "dynamic_variables": {"purpose": "Confirm dinner on Friday", "contact_name": "Ana López", "user_name": "Alice"},
}


@pytest.mark.parametrize(("route", "path", "ref_key", "ref"), [
    ("twilio", "/v1/convai/twilio/outbound-call", "call_sid", "CA123"),
    ("sip_trunk", "/v1/convai/sip-trunk/outbound-call", "sip_call_id", "sip-123"),
])
def test_place_goes_through_the_numbers_provider(route: str, path: str, ref_key: str, ref: str) -> None:
    fake = FakeElevenLabs(route=route)
    caller = fake.caller()
    placed = caller.place(REQUEST)
    assert (placed.placed, placed.provider, placed.ref, placed.status) == (True, "elevenlabs", "conv_1", "initiated")
    assert placed.detail == {"route": route, ref_key: ref}
    lookup, call = fake.requests
    assert (lookup.method, lookup.path) == ("GET", f"/v1/convai/phone-numbers/{PHONE_ID}")
    assert (call.method, call.path) == ("POST", path)
    assert call.body == {"agent_id": "agent_ana", "agent_phone_number_id": PHONE_ID, "to_number": "+34612345678",
                         "conversation_initiation_client_data": CLIENT_DATA}
    assert {r.api_key for r in fake.requests} == {API_KEY}
    caller.place(REQUEST)  # the number's provider is looked up once
    assert [r.path for r in fake.requests].count(f"/v1/convai/phone-numbers/{PHONE_ID}") == 1


def test_without_first_message_or_language_nothing_is_overridden() -> None:
    fake = FakeElevenLabs()
    fake.caller().place(CallRequest(call_id="c1", to_number="+34612345678", agent_id="a", purpose="p",
                                    first_message=None, language=None, dynamic_variables={"purpose": "p"}))
    assert fake.of("POST", "/v1/convai/twilio")[0].body["conversation_initiation_client_data"] == {
        "user_id": "c1", "dynamic_variables": {"purpose": "p"}}


def test_a_number_of_another_provider_is_a_configuration_error() -> None:
    fake = FakeElevenLabs(route="exotel")
    with pytest.raises(CallerError, match="JARVIS_ELEVENLABS_PHONE_NUMBER_ID: the number's provider is 'exotel'"):
        fake.caller().place(REQUEST)
    assert not fake.of("POST", "/")


def test_an_unknown_phone_number_id_names_the_setting() -> None:
    fake = FakeElevenLabs()
    fake.script("GET", f"/v1/convai/phone-numbers/{PHONE_ID}",
                httpx.Response(404, json={"detail": {"status": "not_found", "message": "Phone number not found"}}))
    with pytest.raises(CallerError) as raised:
        fake.caller().place(REQUEST)
    assert "JARVIS_ELEVENLABS_PHONE_NUMBER_ID" in str(raised.value) and "Phone number not found" in str(raised.value)


def test_ensure_agent_creates_one_with_the_contacts_voice_and_personality() -> None:
    fake = FakeElevenLabs()
    agent = fake.caller().ensure_agent(AgentSpec(contact_id="c-1", contact_name="Ana López", voice="voice_ana",
                                                 personality="cheerful and brief", language="es"))
    assert agent == "agent_1"
    (create,) = fake.requests
    assert (create.method, create.path) == ("POST", "/v1/convai/agents/create")
    assert create.body == {
        "conversation_config": {
            "tts": {"voice_id": "voice_ana"},
            "agent": {"first_message": FIRST_MESSAGE, "language": "es",
                      "prompt": {"prompt": PROMPT % "cheerful and brief"}},
        },
        "platform_settings": {"overrides": {"conversation_config_override": {
            "agent": {"first_message": True, "language": True}}}},
        "name": "Jarvis: Ana López",
        "tags": ["jarvis", "contact:c-1"],
    }


def test_ensure_agent_falls_back_to_the_default_voice_and_personality() -> None:
    fake = FakeElevenLabs()
    fake.caller(voice_id="voice_default").ensure_agent(
        AgentSpec(contact_id="c-2", contact_name="Bo", voice=None, personality=None, language=None))
    config = fake.requests[0].body["conversation_config"]
    assert config["tts"] == {"voice_id": "voice_default"}
    assert config["agent"]["language"] == "en" and "warm, concise and professional" in config["agent"]["prompt"]["prompt"]
    fake2 = FakeElevenLabs()
    fake2.caller(voice_id=None).ensure_agent(
        AgentSpec(contact_id="c-2", contact_name="Bo", voice=None, personality=None, language=None))
    assert "tts" not in fake2.requests[0].body["conversation_config"]  # ElevenLabs' own default voice


def test_status_reads_the_conversation_and_its_transcript() -> None:
    fake = FakeElevenLabs()
    fake.conversations["conv_9"] = conversation("conv_9", "in-progress", [("agent", "Hola Ana"), ("user", "Hola!"),
                                                                         ("agent", "")])
    state = fake.caller().status("conv_9")
    assert state.status == "in_progress"
    assert state.transcript == ({"role": "agent", "text": "Hola Ana", "at_seconds": 0},
                                {"role": "user", "text": "Hola!", "at_seconds": 3})
    assert (state.summary, state.duration_seconds, state.ended_reason) == (
        "Ana confirmed dinner on Friday at 9.", 42, "Call ended by remote party")
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v1/convai/conversations/conv_9")]


def test_find_asks_for_the_call_tagged_with_the_action_id() -> None:
    fake = FakeElevenLabs()
    caller = fake.caller()
    assert caller.find(REQUEST.call_id).placed is False
    caller.place(REQUEST)
    found = caller.find(REQUEST.call_id)
    assert (found.placed, found.ref, found.status) == (True, "conv_1", "in_progress")
    lookup = fake.of("GET", "/v1/convai/conversations")[-1]
    assert lookup.params == {"user_id": REQUEST.call_id, "page_size": "1"}


def test_default_agent_names_the_setting_when_missing() -> None:
    assert FakeElevenLabs().caller(agent_id="agent_default").default_agent() == "agent_default"
    with pytest.raises(CallerError, match="JARVIS_ELEVENLABS_AGENT_ID"):
        FakeElevenLabs().caller().default_agent()


# -- failures -----------------------------------------------------------------------------------------


def test_a_4xx_is_final_and_carries_the_providers_message() -> None:
    fake = FakeElevenLabs()
    fake.script("POST", "/v1/convai/twilio/outbound-call", httpx.Response(
        400, json={"detail": {"status": "invalid_number", "message": "The number +34612345678 cannot be called"}}))
    with pytest.raises(CallerError, match=r"refused placing the call \(HTTP 400\): The number \+34612345678 cannot"):
        fake.caller().place(REQUEST)
    assert len(fake.of("POST", "/v1/convai/twilio")) == 1


def test_a_validation_error_lists_the_fields() -> None:
    fake = FakeElevenLabs()
    fake.script("POST", "/v1/convai/twilio/outbound-call", httpx.Response(
        422, json={"detail": [{"loc": ["body", "to_number"], "msg": "invalid phone number", "type": "value_error"}]}))
    with pytest.raises(CallerError, match="to_number: invalid phone number"):
        fake.caller().place(REQUEST)


def test_bad_credentials_name_the_setting() -> None:
    fake = FakeElevenLabs()
    fake.script("GET", f"/v1/convai/phone-numbers/{PHONE_ID}",
                httpx.Response(401, json={"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}))
    with pytest.raises(CallerError, match="JARVIS_ELEVENLABS_API_KEY"):
        fake.caller().place(REQUEST)


def test_429_and_503_are_retried_with_backoff_then_succeed() -> None:
    fake = FakeElevenLabs()
    waits: list[float] = []
    fake.script("POST", "/v1/convai/twilio/outbound-call",
                httpx.Response(429, json={"detail": {"message": "Too many concurrent calls"}}, headers={"retry-after": "2"}),
                httpx.Response(503, json={"detail": "Service unavailable"}))
    caller = fake.caller()
    caller.sleep = waits.append
    assert caller.place(REQUEST).placed is True
    assert len(fake.of("POST", "/v1/convai/twilio")) == 3
    assert not fake.of("GET", "/v1/convai/conversations")  # refusals did nothing: no need to look
    assert 2 <= waits[0] <= 2.5 and 1 <= waits[1] <= 1.25  # Retry-After honoured, then backoff + jitter


def test_retries_are_bounded() -> None:
    fake = FakeElevenLabs()
    fake.script("POST", "/v1/convai/twilio/outbound-call", *[httpx.Response(503, json={"detail": "down"})] * 10)
    waits: list[float] = []
    caller = fake.caller()
    caller.sleep = waits.append
    with pytest.raises(CallerError, match=r"unavailable \(HTTP 503: down\) while placing the call, after 4 attempts"):
        caller.place(REQUEST)
    assert len(fake.of("POST", "/v1/convai/twilio")) == 4 and len(waits) == 3
    assert all(w <= 8 * 1.25 for w in waits) and waits == sorted(waits)


def test_a_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    fake = FakeElevenLabs()
    fake.script("POST", "/v1/convai/twilio/outbound-call",
                httpx.Response(429, json={"detail": {"message": "Quota"}}, headers={"retry-after": "3600"}))
    with pytest.raises(CallerError, match="HTTP 429: Quota"):
        fake.caller().place(REQUEST)
    assert len(fake.of("POST", "/v1/convai/twilio")) == 1


def test_after_a_500_it_looks_before_calling_again() -> None:
    fake = FakeElevenLabs()
    fake.script("POST", "/v1/convai/twilio/outbound-call", httpx.Response(500, json={"detail": "Internal error"}))
    placed = fake.caller().place(REQUEST)
    assert placed.placed is True
    # Not placed by the failed attempt (the lookup says so), so it was sent once more.
    assert len(fake.of("POST", "/v1/convai/twilio")) == 2
    assert fake.of("GET", "/v1/convai/conversations")[0].params["user_id"] == REQUEST.call_id


def test_a_500_after_the_call_was_placed_is_not_called_twice() -> None:
    fake = FakeElevenLabs()
    fake.placed_for[REQUEST.call_id] = "conv_42"  # ElevenLabs placed it, then answered 500
    fake.script("POST", "/v1/convai/twilio/outbound-call", httpx.Response(502, json={"detail": "Bad gateway"}))
    placed = fake.caller().place(REQUEST)
    assert (placed.placed, placed.ref) == (True, "conv_42")
    assert len(fake.of("POST", "/v1/convai/twilio")) == 1


def test_when_the_provider_cannot_tell_it_is_not_called_again() -> None:
    fake = FakeElevenLabs()
    fake.script("POST", "/v1/convai/twilio/outbound-call", httpx.Response(500, json={"detail": "Internal error"}))
    fake.script("GET", "/v1/convai/conversations", *[httpx.Response(500, json={"detail": "down"})] * 4)
    with pytest.raises(CallerError, match="cannot say whether it was placed; it was not sent again"):
        fake.caller().place(REQUEST)
    assert len(fake.of("POST", "/v1/convai/twilio")) == 1


def test_a_timeout_is_treated_as_maybe_placed() -> None:
    fake = FakeElevenLabs()
    fake.lose_answer("POST", "/v1/convai/twilio/outbound-call")  # placed, but the answer never came back
    placed = fake.caller().place(REQUEST)
    assert (placed.placed, placed.ref) == (True, "conv_1")
    assert len(fake.of("POST", "/v1/convai/twilio")) == 1


def test_a_connection_refused_is_retried_at_once() -> None:
    fake = FakeElevenLabs()
    real = fake.handler
    failures = iter([True])

    def refuse_once(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/outbound-call") and next(failures, False):
            raise httpx.ConnectError("connection refused", request=request)
        return real(request)

    fake.handler = refuse_once  # type: ignore[method-assign]
    assert fake.caller().place(REQUEST).placed is True
    assert not fake.of("GET", "/v1/convai/conversations")  # nothing was sent: no need to look
