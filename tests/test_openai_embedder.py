"""The OpenAI embedder through the real openai SDK, with HTTP answered by httpx2.MockTransport: the exact
requests (method, path, headers, body), batching, retries with backoff, errors, and the store's guard."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest

from jarvis_mcp.adapters.openai_embedder import EmbeddingError, EmbeddingUnavailable, OpenAIEmbedder
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import ConfigError, Settings, load_settings
from jarvis_mcp.errors import StoreMismatch

KEY = "sk-test-0123456789"


def fake_vector(text: str, dim: int) -> np.ndarray:
    """Deterministic, and similar for texts sharing words: a hashed bag of words."""
    v = np.zeros(dim, np.float32)
    for word in text.lower().split():
        v[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dim] += 1.0
    v[0] += 0.01
    return v * 3.0  # not unit length: the adapter normalises


class FakeOpenAI:
    """Answers POST /v1/embeddings like the API (base64 float32), or with queued failures."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.requests: list[httpx2.Request] = []
        self.failures: list[httpx2.Response] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self.failures:
            return self.failures.pop(0)
        body = json.loads(request.content)
        data = [
            {"object": "embedding", "index": i,
             "embedding": base64.b64encode(fake_vector(t, self.dim).astype("<f4").tobytes()).decode()}
            for i, t in enumerate(body["input"])
        ]
        data.reverse()  # the API does not promise order: the adapter sorts by index
        return httpx2.Response(200, json={"object": "list", "data": data, "model": body["model"],
                                          "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make(fake: FakeOpenAI, time_: FakeTime | None = None, **kwargs: Any) -> OpenAIEmbedder:
    time_ = time_ or FakeTime()
    return OpenAIEmbedder(KEY, http_client=httpx2.Client(transport=httpx2.MockTransport(fake)),
                          sleep=time_.sleep, clock=time_.clock, **kwargs)


def error(status: int, message: str = "boom", headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, headers=headers, json={"error": {"message": message, "type": "x", "code": None}})


def test_the_request_the_api_receives() -> None:
    fake = FakeOpenAI(256)
    embedder = make(fake, dimensions=256)
    out = embedder.embed(["hello world", "good morning"])
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.url.path == "/v1/embeddings"
    assert request.url.host == "api.openai.com"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "text-embedding-3-small", "input": ["hello world", "good morning"],
        "dimensions": 256, "encoding_format": "base64",
    }
    assert out.shape == (2, 256) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    expected = fake_vector("hello world", 256)
    np.testing.assert_allclose(out[0], expected / np.linalg.norm(expected), rtol=1e-5)


def test_the_model_id_carries_the_dimension() -> None:
    fake = FakeOpenAI(1536)
    assert make(fake).model_id == "openai/text-embedding-3-small@1536"
    assert make(fake).dim == 1536
    assert make(fake, dimensions=512).model_id == "openai/text-embedding-3-small@512"
    assert make(fake, model="text-embedding-3-large").dim == 3072
    body = (make(fake).embed(["x"]), fake.bodies()[-1])[1]
    assert "dimensions" not in body  # the model's own size: nothing to ask for


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dimensions": 0}, "positive"),
    ({"dimensions": 2000}, "at most 1536"),
    ({"model": "text-embedding-ada-002", "dimensions": 512}, "fixed dimension"),
    ({"model": "my-custom-model"}, "set the dimensions"),
])
def test_impossible_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(FakeOpenAI(8), **kwargs)


def test_batches_are_bounded_in_inputs_and_preserve_order() -> None:
    fake = FakeOpenAI(16)
    texts = [f"text number {i}" for i in range(7)]
    out = make(fake, dimensions=16, max_inputs=3).embed(texts)
    assert [len(b["input"]) for b in fake.bodies()] == [3, 3, 1]
    assert [t for b in fake.bodies() for t in b["input"]] == texts
    for i, text in enumerate(texts):
        v = fake_vector(text, 16)
        np.testing.assert_allclose(out[i], v / np.linalg.norm(v), rtol=1e-5)


def test_batches_are_bounded_in_tokens() -> None:
    fake = FakeOpenAI(16)
    texts = ["a" * 40] * 5 + ["é" * 31]  # 62 bytes: a token is at least one byte of UTF-8
    make(fake, dimensions=16, max_request_tokens=100).embed(texts)
    assert [len(b["input"]) for b in fake.bodies()] == [2, 2, 1, 1]


def test_a_full_default_batch_is_2048_inputs() -> None:
    fake = FakeOpenAI(8)
    make(fake, dimensions=8).embed(["w"] * 2049)
    assert [len(b["input"]) for b in fake.bodies()] == [2048, 1]


def test_empty_input_is_not_sent_empty() -> None:
    fake = FakeOpenAI(8)
    make(fake, dimensions=8).embed(["", "  "])
    assert fake.bodies()[0]["input"] == [" ", " "]


def test_429_and_5xx_are_retried_with_backoff() -> None:
    fake, t = FakeOpenAI(8), FakeTime()
    fake.failures = [error(429, "slow down"), error(500), error(503)]
    out = make(fake, t, dimensions=8).embed(["hello"])
    assert out.shape == (1, 8)
    assert len(fake.requests) == 4
    assert len(t.sleeps) == 3
    # Full jitter under a doubling cap: 0.5 s, 1 s, 2 s.
    for sleep, cap in zip(t.sleeps, (0.5, 1.0, 2.0), strict=True):
        assert 0 <= sleep <= cap


def test_the_servers_retry_after_is_honoured() -> None:
    fake, t = FakeOpenAI(8), FakeTime()
    fake.failures = [error(429, headers={"retry-after-ms": "1500"}), error(429, headers={"retry-after": "2"})]
    make(fake, t, dimensions=8).embed(["hello"])
    assert t.sleeps == [1.5, 2.0]


def test_retries_stop_within_the_time_budget() -> None:
    fake, t = FakeOpenAI(8), FakeTime()
    fake.failures = [error(503, "overloaded")] * 100
    with pytest.raises(EmbeddingUnavailable, match=r"unavailable right now \(HTTP 503: overloaded"):
        make(fake, t, dimensions=8, retry_budget=10.0).embed(["hello"])
    assert sum(t.sleeps) <= 10.0
    assert 3 <= len(fake.requests) < 100


def test_connection_failures_are_retried() -> None:
    calls = []

    def flaky(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx2.ConnectError("connection refused", request=request)
        return FakeOpenAI(8)(request)

    t = FakeTime()
    embedder = OpenAIEmbedder(KEY, dimensions=8, http_client=httpx2.Client(transport=httpx2.MockTransport(flaky)),
                              sleep=t.sleep, clock=t.clock)
    assert embedder.embed(["x"]).shape == (1, 8)
    assert len(calls) == 2


@pytest.mark.parametrize(("status", "message"), [
    (401, "OpenAI rejected JARVIS_OPENAI_API_KEY"),
    (403, "refused access to text-embedding-3-small"),
    (404, "does not know the model 'text-embedding-3-small'"),
    (400, "HTTP 400: This model's maximum context length is 8192 tokens"),
])
def test_other_failures_are_clear_errors_without_retry(status: int, message: str) -> None:
    fake = FakeOpenAI(8)
    fake.failures = [error(status, "This model's maximum context length is 8192 tokens")]
    with pytest.raises(EmbeddingError, match=message):
        make(fake, dimensions=8).embed(["hello"])
    assert len(fake.requests) == 1


def test_a_wrong_dimension_from_the_api_is_an_error() -> None:
    fake = FakeOpenAI(8)
    with pytest.raises(EmbeddingError, match="returned 8 dimensions, expected 16"):
        make(fake, dimensions=16).embed(["hello"])


# -- in the server ------------------------------------------------------------------------------


def settings(home: Path, **kw: Any) -> Settings:
    return Settings(home=home, embedder="openai", openai_api_key=KEY, **kw)


def test_the_stores_model_guard_applies(tmp_path: Path) -> None:
    fake = FakeOpenAI(256)
    rt = open_runtime(settings(tmp_path, openai_dimensions=256), embedder=make(fake, dimensions=256))
    rt.close()
    with pytest.raises(StoreMismatch, match=r"openai/text-embedding-3-small@256 \(dimension 256\).*"
                                            r"openai/text-embedding-3-small@512"):
        open_runtime(settings(tmp_path, openai_dimensions=512), embedder=make(FakeOpenAI(512), dimensions=512))


def test_remember_and_search_through_the_openai_embedder(tmp_path: Path) -> None:
    fake = FakeOpenAI(64)
    rt = open_runtime(settings(tmp_path), embedder=make(fake, dimensions=64))
    try:
        memory = rt.scope_for(rt.local_user_id()).memory
        memory.remember("The boiler service is booked for Tuesday", tags=["house"])
        memory.remember("Lucia likes green tea", kind="preference")
        hits = memory.search("boiler service", top_k=1).hits
        assert hits[0].text == "The boiler service is booked for Tuesday"
        assert all(b["model"] == "text-embedding-3-small" and b["dimensions"] == 64 for b in fake.bodies())
    finally:
        rt.close()


def test_configuration_names_the_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JARVIS_EMBEDDER", "openai")
    with pytest.raises(ConfigError, match="JARVIS_EMBEDDER=openai needs JARVIS_OPENAI_API_KEY"):
        load_settings()


def test_bootstrap_builds_it_from_settings(tmp_path: Path) -> None:
    from jarvis_mcp.bootstrap import make_embedder as build

    embedder = build(settings(tmp_path, openai_dimensions=1024, openai_model="text-embedding-3-large"))
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.model_id == "openai/text-embedding-3-large@1024"
    with pytest.raises(ConfigError, match="JARVIS_OPENAI_MODEL / JARVIS_OPENAI_DIMENSIONS: unknown dimension"):
        build(settings(tmp_path, openai_model="some-other-model"))


def test_a_legacy_httpx_client_works_too() -> None:
    # openai 3.x is built on httpx2 but still accepts an httpx.Client, as the 1.x/2.x SDKs took.
    import httpx

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        vec = base64.b64encode(fake_vector(body["input"][0], 8).astype("<f4").tobytes()).decode()
        return httpx.Response(200, json={"object": "list", "model": body["model"], "usage": {},
                                         "data": [{"object": "embedding", "index": 0, "embedding": vec}]})

    embedder = OpenAIEmbedder(KEY, dimensions=8, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert embedder.embed(["hello"]).shape == (1, 8)
    assert seen[0].method == "POST" and seen[0].url.path == "/v1/embeddings"
