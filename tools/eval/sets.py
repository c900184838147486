"""Loading and checking the labelled sets: the bilingual set and the long conversations.

Used by tools/retrieval_eval.py and tests/test_eval_sets.py, so what the evaluation reads is exactly what
the tests validate. The paraphrase rule lives here too: a question labelled `paraphrase` shares no content
word with any of its answers (lower-cased, accents folded, stop-words of both languages removed, each word
cut to its first five letters as a crude stem that works for both languages).
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BILINGUAL = HERE / "bilingual.json"
LONGCONV = HERE / "longconv"

PAIRS = ("es-es", "en-en", "es-en", "en-es")
NO_ANSWER_PAIRS = ("es-none", "en-none")
BILINGUAL_TYPES = ("paraphrase", "direct", "none")
LONGCONV_TYPES = ("single-hop", "multi-hop", "temporal")
SPLITS = ("dev", "test")
STEM = 5

# Function words, pronouns, question words and light verbs (be/have/do, ser/estar/tener/hacer/ir) of
# both languages: sharing one of these says nothing about the meaning.
_STOP_WORDS = """
a about above after again all also am an and any are as at be been before being both but by can cannot
could did do does doing done don down during each few for from further get gets got had has have having he
her here hers him his how i if in into is it its just let me more most my no nor not now of off on once only
or other our ours out over own same she should so some still such than that the their them then there these
they this those through to too under until up us very was we were what whats when where which while who whom
whose why will with would you your yours much many s t m re ve ll d isn doesn didn won can't i'm it's what's
al algo algun alguna algunas alguno algunos ante antes asi aun cada como con contra cual cuales cualquier
cuando cuanta cuantas cuanto cuantos de del desde donde el ella ellas ellos en entre era eran eres es esa
esas ese eso esos esta estaba estado estamos estan estar estas este esto estos estoy fue fueron ha habia han
has hasta hay he hemos la las le les lo los me mi mis mucho muy nada ni no nos nosotros nuestra nuestras nuestro
nuestros o os otra otro para pero poco por porque pues que quien quienes se sea ser si sin sobre son soy su sus
tambien te tener tengo tenemos tiene tienen tu tus un una unas uno unos usted vosotros y ya yo
hace hacen hacer hago hice hizo va van vamos voy ir iba
"""
STOP = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def content_stems(text: str) -> set[str]:
    """The text's content words, folded and cut to their first five letters."""
    return {w[:STEM] for w in _WORD.findall(fold(text)) if w not in STOP and w.replace("'", "") not in STOP}


def shared_stems(a: str, b: str) -> set[str]:
    return content_stems(a) & content_stems(b)


class SetError(ValueError):
    """A data file that breaks the sets' rules (the message names the item)."""


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SetError(f"{path}: {exc}") from exc


def load_bilingual(path: Path = BILINGUAL) -> dict[str, Any]:
    """The bilingual set, checked: every answer is a memory of the right language, pairs and types known."""
    data = _read(path)
    memories = {m["id"]: m for m in data["memories"]}
    if len(memories) != len(data["memories"]):
        raise SetError("duplicate memory id")
    seen: set[str] = set()
    for q in data["questions"]:
        where = f"question {q['id']}"
        if q["id"] in seen:
            raise SetError(f"{where}: duplicate id")
        seen.add(q["id"])
        if q["type"] not in BILINGUAL_TYPES or q["split"] not in SPLITS:
            raise SetError(f"{where}: type {q['type']!r} / split {q['split']!r} unknown")
        if (q["type"] == "none") != (not q["answers"]) or (q["type"] == "none") != (q["pair"] in NO_ANSWER_PAIRS):
            raise SetError(f"{where}: a question has no answers exactly when its type is 'none'")
        if q["pair"] not in PAIRS + NO_ANSWER_PAIRS or q["pair"].split("-")[0] != q["lang"]:
            raise SetError(f"{where}: pair {q['pair']!r} does not fit lang {q['lang']!r}")
        for a in q["answers"]:
            if a not in memories:
                raise SetError(f"{where}: answer {a!r} is not a memory of the set")
            if memories[a]["lang"] != q["pair"].split("-")[1]:
                raise SetError(f"{where}: answer {a} is {memories[a]['lang']}, pair says {q['pair']}")
    return data


def paraphrase_violations(data: dict[str, Any]) -> list[str]:
    """Questions labelled paraphrase that share a content stem with one of their answers."""
    memories = {m["id"]: m for m in data["memories"]}
    out = []
    for q in data["questions"]:
        if q["type"] != "paraphrase":
            continue
        for a in q["answers"]:
            if common := shared_stems(q["query"], memories[a]["text"]):
                out.append(f"{q['id']} ~ {a}: {sorted(common)}")
    return out


def load_longconv(folder: Path = LONGCONV) -> list[dict[str, Any]]:
    """Every conversation of the folder, checked: turn ids unique, evidence resolves to turns, types known,
    multi-hop evidence in two turns or more, questions asked after the evidence was said."""
    convs = [_read(p) for p in sorted(folder.glob("*.json"))]
    for conv in convs:
        turns = {t["id"]: t for s in conv["sessions"] for t in s["turns"]}
        if len(turns) != sum(len(s["turns"]) for s in conv["sessions"]):
            raise SetError(f"{conv['id']}: duplicate turn id")
        for s in conv["sessions"]:
            if any(t["role"] not in ("user", "assistant") for t in s["turns"]):
                raise SetError(f"{conv['id']} {s['id']}: a turn's role is neither user nor assistant")
        seen: set[str] = set()
        for q in conv["questions"]:
            where = f"{conv['id']} question {q['id']}"
            if q["id"] in seen:
                raise SetError(f"{where}: duplicate id")
            seen.add(q["id"])
            if q["type"] not in LONGCONV_TYPES or q["split"] not in SPLITS:
                raise SetError(f"{where}: type {q['type']!r} / split {q['split']!r} unknown")
            if not q["evidence"] or any(e not in turns for e in q["evidence"]):
                raise SetError(f"{where}: evidence {q['evidence']} is not a list of turns of the conversation")
            if q["type"] == "multi-hop" and len(set(q["evidence"])) < 2:
                raise SetError(f"{where}: a multi-hop question needs evidence in two turns or more")
            if any(turns[e]["at"] > q["asked_at"] for e in q["evidence"]):
                raise SetError(f"{where}: asked before its evidence was said")
    return convs
