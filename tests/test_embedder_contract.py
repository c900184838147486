"""The Embedder port's contract over every adapter: the local models (USE multilingual, the default, and
MiniLM) and OpenAI (the real SDK over a mock transport, tests/test_openai_embedder.py's fake API)."""

from __future__ import annotations

from typing import Any

import httpx2
import numpy as np
import pytest
from test_openai_embedder import KEY, FakeOpenAI

from jarvis_mcp.adapters.openai_embedder import OpenAIEmbedder
from jarvis_mcp.adapters.use_embedder import UseMultilingualEmbedder
from jarvis_mcp.ports import Embedder

TEXTS = ["The boiler service is on Tuesday", "Lucía prefiere el té verde", "🙂 ok", "x" * 3000]


@pytest.fixture(scope="module")
def use() -> UseMultilingualEmbedder:
    return UseMultilingualEmbedder()


@pytest.fixture(params=["use", "onnx", "openai"])
def any_embedder(request: pytest.FixtureRequest, embedder: Any, use: UseMultilingualEmbedder) -> Embedder:
    if request.param == "use":
        return use
    if request.param == "onnx":
        return embedder
    return OpenAIEmbedder(KEY, dimensions=64, http_client=httpx2.Client(transport=httpx2.MockTransport(FakeOpenAI(64))))


def test_it_is_an_embedder(any_embedder: Embedder) -> None:
    assert isinstance(any_embedder, Embedder)
    assert isinstance(any_embedder.model_id, str) and any_embedder.model_id
    assert isinstance(any_embedder.dim, int) and any_embedder.dim > 0


def test_rows_are_unit_float32_of_the_declared_dimension(any_embedder: Embedder) -> None:
    out = any_embedder.embed(TEXTS)
    assert out.shape == (len(TEXTS), any_embedder.dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-4)
    assert np.all(np.isfinite(out))


def test_nothing_in_nothing_out(any_embedder: Embedder) -> None:
    assert any_embedder.embed([]).shape == (0, any_embedder.dim)


def test_deterministic_and_independent_of_batching(any_embedder: Embedder) -> None:
    together = any_embedder.embed(TEXTS)
    alone = np.vstack([any_embedder.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(any_embedder.embed(TEXTS[:1]), together[:1], atol=1e-6)


def test_different_texts_get_different_vectors(any_embedder: Embedder) -> None:
    a, b = any_embedder.embed(TEXTS[:2])
    assert float(a @ b) < 0.99
