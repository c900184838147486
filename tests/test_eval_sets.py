"""The labelled evaluation sets under tools/eval/ keep their promises: sizes, labels that resolve to
memories or turns, disjoint dev/test splits, and the paraphrase rule (no content word shared)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def _load_sets():  # noqa: ANN202 - the module under tools/eval
    spec = importlib.util.spec_from_file_location("eval_sets_under_test", TOOLS / "eval" / "sets.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


sets = _load_sets()


@pytest.fixture(scope="module")
def bilingual() -> dict:
    return sets.load_bilingual()


# -- the paraphrase rule itself ---------------------------------------------------------------------


def test_content_stems_fold_accents_case_and_stop_words_in_both_languages() -> None:
    assert sets.content_stems("¿Cuándo hay que REVISAR el coche?") == {"revis", "coche"}
    assert sets.content_stems("When does the car need its next service?") == {"car", "need", "next", "servi"}
    # "revisión" and "revisar" share a stem: a question using one may not call the other a paraphrase.
    assert sets.shared_stems("¿Cuándo hay que revisar el coche?", "La revisión del coche") == {"revis", "coche"}
    assert sets.shared_stems("Japón", "japon") == {"japon"}


def test_a_question_sharing_a_word_with_its_answer_is_reported() -> None:
    data = {"memories": [{"id": "m1", "lang": "es", "text": "Mi perra Luna tiene miedo a los petardos."}],
            "questions": [{"id": "q1", "type": "paraphrase", "query": "¿A qué tiene miedo la perra?", "answers": ["m1"]},
                          {"id": "q2", "type": "paraphrase", "query": "What scares my dog?", "answers": ["m1"]}]}
    assert sets.paraphrase_violations(data) == ["q1 ~ m1: ['miedo', 'perra']"]


def test_a_broken_label_is_refused_with_the_question_named(tmp_path: Path, bilingual: dict) -> None:
    broken = json.loads(json.dumps(bilingual))
    broken["questions"][0]["answers"] = ["nope"]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(sets.SetError, match=f"question {broken['questions'][0]['id']}: answer 'nope'"):
        sets.load_bilingual(path)
    broken = json.loads(json.dumps(bilingual))
    q = next(q for q in broken["questions"] if q["pair"] == "es-en")
    q["answers"] = [next(m["id"] for m in broken["memories"] if m["lang"] == "es")]
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(sets.SetError, match="pair says es-en"):
        sets.load_bilingual(path)


# -- the bilingual set ------------------------------------------------------------------------------


def test_bilingual_sizes_and_balance(bilingual: dict) -> None:
    langs = Counter(m["lang"] for m in bilingual["memories"])
    assert sum(langs.values()) >= 150 and abs(langs["es"] - langs["en"]) <= 0.1 * sum(langs.values())
    answered = [q for q in bilingual["questions"] if q["answers"]]
    assert len(answered) >= 150
    pairs = Counter(q["pair"] for q in answered)
    assert set(pairs) == set(sets.PAIRS)
    assert all(abs(n - len(answered) / 4) <= 0.1 * len(answered) for n in pairs.values()), pairs
    paraphrases = [q for q in answered if q["type"] == "paraphrase"]
    assert len(paraphrases) * 3 >= len(answered)
    assert all(n >= 10 for n in Counter(q["pair"] for q in paraphrases).values())
    none = [q for q in bilingual["questions"] if not q["answers"]]
    assert len(none) >= 20 and {q["lang"] for q in none} == {"es", "en"}


def test_bilingual_paraphrases_share_no_content_word_with_their_answers(bilingual: dict) -> None:
    assert sets.paraphrase_violations(bilingual) == []


def test_bilingual_ids_queries_and_texts_are_unique(bilingual: dict) -> None:
    for key, items in (("memories", bilingual["memories"]), ("questions", bilingual["questions"])):
        assert len({i["id"] for i in items}) == len(items), key
    assert len({sets.fold(m["text"]) for m in bilingual["memories"]}) == len(bilingual["memories"])
    queries = [(q["query"], q["pair"]) for q in bilingual["questions"]]
    assert len(set(queries)) == len(queries)


def test_bilingual_split_is_stratified_and_disjoint(bilingual: dict) -> None:
    by_group = Counter((q["pair"], q["type"], q["split"]) for q in bilingual["questions"])
    for pair, kind in {(q["pair"], q["type"]) for q in bilingual["questions"]}:
        dev, test = by_group[(pair, kind, "dev")], by_group[(pair, kind, "test")]
        assert abs(dev - test) <= 1, (pair, kind, dev, test)
    dev = {q["query"] for q in bilingual["questions"] if q["split"] == "dev"}
    test = {q["query"] for q in bilingual["questions"] if q["split"] == "test"}
    assert not dev & test


def test_the_issue_examples_are_in_the_set(bilingual: dict) -> None:
    memories = {m["id"]: m for m in bilingual["memories"]}
    car = next(q for q in bilingual["questions"] if q["query"] == "¿Cuándo hay que revisar el coche?")
    assert all(memories[a]["topic"] == "car" for a in car["answers"])
    assert any(memories[d]["topic"] == "sports" and "fútbol" in memories[d]["text"] for d in car["distractors"])
    japan = next(q for q in bilingual["questions"] if q["query"] == "viaje a Japón")
    assert any("Japón" in memories[a]["text"] for a in japan["answers"])


# -- the long conversations -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def longconv() -> list[dict]:
    return sets.load_longconv()


def test_longconv_sizes_languages_and_types(longconv: list[dict]) -> None:
    assert len(longconv) >= 5
    assert Counter(c["lang"] for c in longconv)["es"] >= 2 and Counter(c["lang"] for c in longconv)["en"] >= 2
    for conv in longconv:
        turns = [t for s in conv["sessions"] for t in s["turns"]]
        assert len(turns) >= 300, conv["id"]
        assert len(conv["sessions"]) >= 10 and {t["role"] for t in turns} == {"user", "assistant"}
        assert [t["at"] for t in turns] == sorted(t["at"] for t in turns), "turns are in time order"
        assert set(Counter(q["type"] for q in conv["questions"])) == set(sets.LONGCONV_TYPES), conv["id"]
    size = sum(p.stat().st_size for p in sets.LONGCONV.glob("*.json"))
    assert size < 3_000_000


def test_longconv_evidence_is_what_the_labels_say(longconv: list[dict]) -> None:
    for conv in longconv:
        turns = {t["id"]: t for s in conv["sessions"] for t in s["turns"]}
        session_of = {t["id"]: s["id"] for s in conv["sessions"] for t in s["turns"]}
        for q in conv["questions"]:
            assert all(turns[e]["role"] == "user" for e in q["evidence"]), q["id"]
            if q["type"] == "multi-hop":
                assert len({session_of[e] for e in q["evidence"]}) >= 2, q["id"]
            if q["type"] == "temporal":
                assert len(q["evidence"]) == 1
                words = sets.fold(q["query"])
                assert any(w in words for w in ("hace ", " en ", "mes pasado", " ago", " in ", "last month")), q["query"]


def test_longconv_split_is_stratified_and_disjoint(longconv: list[dict]) -> None:
    for conv in longconv:
        by = Counter((q["type"], q["split"]) for q in conv["questions"])
        for kind in sets.LONGCONV_TYPES:
            assert abs(by[(kind, "dev")] - by[(kind, "test")]) <= 1, (conv["id"], kind)
        ids = [q["id"] for q in conv["questions"]]
        assert len(set(ids)) == len(ids)


def test_longconv_files_are_what_the_generator_makes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_longconv_under_test", TOOLS / "eval" / "make_longconv.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert module.main(["--check"]) == 0
    assert module.main(["--out", str(tmp_path)]) == 0
    assert module.main(["--check", "--out", str(tmp_path)]) == 0  # the same seed writes the same bytes
    (tmp_path / "es-lucia.json").write_text("{}", encoding="utf-8")
    assert module.main(["--check", "--out", str(tmp_path)]) == 1


def test_a_broken_longconv_label_is_refused(tmp_path: Path, longconv: list[dict]) -> None:
    conv = json.loads(json.dumps(longconv[0]))
    q = next(q for q in conv["questions"] if q["type"] == "multi-hop")
    q["evidence"] = q["evidence"][:1]
    (tmp_path / "c.json").write_text(json.dumps(conv), encoding="utf-8")
    with pytest.raises(sets.SetError, match=f"question {q['id']}: a multi-hop question needs evidence in two turns"):
        sets.load_longconv(tmp_path)
    q["evidence"] = ["s99:t01"]
    (tmp_path / "c.json").write_text(json.dumps(conv), encoding="utf-8")
    with pytest.raises(sets.SetError, match="is not a list of turns"):
        sets.load_longconv(tmp_path)
