"""The OpenAI sentiment provider through the real openai SDK, with HTTP answered by httpx2.MockTransport: the
exact request, strict parsing of the answer, failures as SentimentFailure, and the wiring by settings."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from jarvis_mcp.adapters.openai_sentiment import SYSTEM, OpenAISentiment
from jarvis_mcp.bootstrap import make_sentiment
from jarvis_mcp.config import ConfigError, Settings, load_settings
from jarvis_mcp.sentiment.lexicon import LexiconAnalyzer
from jarvis_mcp.sentiment.ports import SentimentFailure

KEY = "sk-test-sentiment-0123456789"


def completion(content: str | None, finish: str = "stop") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content, "refusal": None}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}


class FakeOpenAI:
    def __init__(self, *answers: httpx2.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.answers.pop(0)


def make(fake: FakeOpenAI, **kwargs: Any) -> OpenAISentiment:
    return OpenAISentiment(KEY, http_client=httpx2.Client(transport=httpx2.MockTransport(fake)), max_retries=0, **kwargs)


def results(*items: tuple[str, float, bool]) -> str:
    return json.dumps({"results": [{"label": label, "score": score, "confidence": 0.9, "language": ("es", "en")[i % 2],
                                    "sarcasm": sarcasm} for i, (label, score, sarcasm) in enumerate(items)]})


def test_exact_request_and_parsed_answer() -> None:
    fake = FakeOpenAI(httpx2.Response(200, json=completion(results(("negative", -0.8, True), ("positive", 0.6, False)))))
    found = make(fake).analyze(["Genial, otra vez tarde", "Not bad at all"])
    request = fake.requests[0]
    assert (request.method, request.url.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": SYSTEM},
                     {"role": "user", "content": '{"messages": ["Genial, otra vez tarde", "Not bad at all"]}'}],
        "response_format": {"type": "json_object"},
        "temperature": 0,
    }
    assert [(s.label, s.score, s.sarcasm, s.language) for s in found] == [
        ("negative", -0.8, True, "es"), ("positive", 0.6, False, "en")]


def test_batches_of_twenty() -> None:
    fake = FakeOpenAI(*[httpx2.Response(200, json=completion(results(*[("neutral", 0.0, False)] * n)))
                        for n in (20, 5)])
    found = make(fake).analyze([f"mensaje {i}" for i in range(25)])
    assert len(found) == 25
    assert [len(json.loads(json.loads(r.content)["messages"][1]["content"])["messages"]) for r in fake.requests] == [20, 5]


@pytest.mark.parametrize(("answer", "message"), [
    (httpx2.Response(200, json=completion("not json")), "not the promised JSON"),
    (httpx2.Response(200, json=completion(json.dumps({"results": [{"label": "happy", "score": 0.5, "confidence": 1,
                                                                     "language": "en", "sarcasm": False}]}))),
     "not the promised JSON"),
    (httpx2.Response(200, json=completion(json.dumps({"results": [{"label": "positive", "score": 3, "confidence": 1,
                                                                     "language": "en", "sarcasm": False}]}))),
     "not the promised JSON"),
    (httpx2.Response(200, json=completion(results(("positive", 0.5, False), ("neutral", 0.0, False)))),
     "labelled 2 messages of 1"),
    (httpx2.Response(200, json=completion('{"results": [', finish="length")), "no complete sentiment answer (length)"),
    (httpx2.Response(401, json={"error": {"message": "bad key", "type": "invalid_request_error"}}), "answered 401"),
    (httpx2.Response(500, json={"error": {"message": "boom"}}), "answered 500"),
])
def test_failures_are_provider_failures(answer: httpx2.Response, message: str) -> None:
    with pytest.raises(SentimentFailure) as raised:
        make(FakeOpenAI(answer)).analyze(["Hola"])
    assert message in str(raised.value) and KEY not in str(raised.value)
    assert raised.value.auth is (answer.status_code == 401)


def test_connection_failure() -> None:
    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused")

    analyzer = OpenAISentiment(KEY, http_client=httpx2.Client(transport=httpx2.MockTransport(down)), max_retries=0)
    with pytest.raises(SentimentFailure, match="could not be reached"):
        analyzer.analyze(["Hola"])


def test_settings_pick_the_analyzer(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_sentiment(Settings(home=tmp_path)), LexiconAnalyzer)
    chosen = make_sentiment(Settings(home=tmp_path, sentiment="openai", openai_api_key=KEY,
                                     openai_sentiment_model="gpt-4.1-mini"))
    assert isinstance(chosen, OpenAISentiment) and chosen.name == "openai:gpt-4.1-mini"
    monkeypatch.setenv("JARVIS_SENTIMENT", "openai")
    with pytest.raises(ConfigError, match="JARVIS_SENTIMENT=openai needs JARVIS_OPENAI_API_KEY"):
        load_settings(home=tmp_path)


async def test_the_tool_reports_a_provider_failure(client_for) -> None:
    async with client_for(sentiment="openai", openai_api_key=KEY, openai_base_url="http://127.0.0.1:9/v1") as c:
        result = await c.call_tool("analyze_sentiment", {"text": "Hola"})
    assert result.is_error and "could not be reached" in result.content[0].text


async def test_a_contacts_trend_through_the_provider(client_for, monkeypatch: pytest.MonkeyPatch) -> None:
    from jarvis_mcp import bootstrap

    fake = FakeOpenAI(httpx2.Response(200, json=completion(results(("positive", 0.7, False),
                                                                   ("negative", -0.6, True)))))
    monkeypatch.setattr(bootstrap, "make_sentiment", lambda settings: make(fake))
    async with client_for() as c:
        ok_ = (await c.call_tool("save_contact", {"name": "Laura García"})).structured_content
        assert ok_ is not None
        for text, when in (("Laura: genial, otra vez tarde", "2026-09-01T10:00:00Z"),
                           ("Laura está encantada con la entrega", "2026-10-01T10:00:00Z")):
            await c.call_tool("remember", {"text": text, "occurred_at": when})
        result = await c.call_tool("analyze_sentiment", {"contact": "Laura García"})
    out = result.structured_content
    assert not result.is_error and out["analyzer"] == "openai:gpt-4o-mini"
    sent = json.loads(json.loads(fake.requests[0].content)["messages"][1]["content"])
    assert sent == {"messages": ["Laura está encantada con la entrega", "Laura: genial, otra vez tarde"]}  # newest first
    assert [(i["label"], i["sarcasm"]) for i in out["items"]] == [("positive", False), ("negative", True)]
    assert out["direction"] == "not enough data" and [m["month"] for m in out["months"]] == ["2026-10", "2026-09"]
