"""How search_memory scores and cuts its candidates: vector similarity, keyword evidence, a date boost and
the relevance floor. Pure functions over numbers the service gathered; the figures are measured with
tools/retrieval_eval.py on the dev split of the sets in tools/eval/ (never on their test split).

score = cosine similarity
      + KEYWORD_WEIGHT x keyword evidence (the IDF-weighted share of the query's words the memory holds)
      + DATE_BOOST     when the question names a time ("last June") and the memory falls in it

The relevance floor (honest results): a candidate is returned only if
  - its cosine similarity reaches the embedder's `relevance_floor` (DEFAULT_RELEVANCE_FLOOR for a model
    that does not say), or
  - it holds a strong keyword match: at least STRONG_KEYWORD of the IDF-weighted query words that the
    user's memories hold at all (`written_only`). A rare name or word written in the question ("zephyrine",
    "IBAN") is evidence on its own, whatever a model thinks of its meaning. A word none of the memories
    holds tells nothing about which one answers, yet its IDF is the largest of all: counted, it kept
    "¿A qué actividad me apunté?" ("actividad" written nowhere) from reaching "Me he apuntado a clases de
    fotografía". Long-conversation dev split, recall@5 0.812 -> 0.898 (single-hop 0.83 -> 0.97, multi-hop
    0.58 -> 0.72); bilingual dev 0.962 -> 0.974; the first set (conversations.json) unchanged; no-answer
    questions left empty 0/10 before and after (the cosine floor never emptied them). Using the same
    share in the ranking too gave 0.919 but cost MRR on the other two sets: the ranking keeps all words.
A query nothing passes for returns no hits, and the tool says so.

A turn that only asks hands its rank to its reply (carry_to_replies): in a conversation the answer is the turn
after the question ("And what did the garage say?" -> "They had to replace the battery. 150 euros."), and
a question about that moment resembles the question turn more than the bare reply. The reply passes the
floor through its question.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from jarvis_mcp.memory import keywords
from jarvis_mcp.memory.ports import MemoryRecord

#: How much keyword evidence adds to cosine similarity. Measured on the labelled set: every value from
#: 0.1 to 0.5 gave hybrid the best recall@5; plain reciprocal rank fusion did worse than vectors alone,
#: because on paraphrased questions the keyword list is mostly noise yet weighs as much.
KEYWORD_WEIGHT = 0.2
#: Added to a memory inside the time the question names. Measured on the long-conversation dev split
#: (temporal questions such as "How much did the garage charge me in May?"): recall@5 of temporal questions
#: 0.33 (no boost) -> 0.64 (0.1) -> 0.76 (0.2) -> 0.85 (0.3), with turns embedded in context; questions
#: naming no time are untouched. A month of memories all get it, so inside the window meaning still ranks.
DATE_BOOST = 0.3
#: all-MiniLM-L6-v2's floor (cosine), calibrated on the dev splits: see tools/README.md.
DEFAULT_RELEVANCE_FLOOR = 0.25
#: The share of the query's (IDF-weighted) words that makes a keyword match strong on its own.
STRONG_KEYWORD = 0.5
#: Keyword hits whose texts are read for evidence: bm25 already puts rare-word matches first.
EVIDENCE_POOL = 20


#: How much lower a question turn ranks than the score it earned: it asks, the turn after it answers.
QUESTION_DISCOUNT = 0.2
#: The reply ranks this much below its question's score: a memory matching as well on its own goes first.
REPLY_GAP = 0.02
#: Measured on the long-conversation dev split (multilingual default, tools/retrieval_eval.py), recall@5 /
#: MRR@10 over 93 questions: without 0.704 / 0.537; reply inherits the score 0.774 / 0.718; and the
#: question discounted by 0.1 0.812 / 0.734, by 0.2 or more (up to dropping it) 0.812 / 0.741; a gap of
#: 0.02 0.812 / 0.758. Temporal questions 0.788 -> 1.000: the answer to "how much did the garage charge
#: me in May?" is a bare reply to a question naming the garage. Carrying a statement's score over the
#: assistant's question to the reply after it (two turns on) did not help (0.806). Only a turn that only
#: asks (asks_only): taking every turn ending in "?" cost the first set (--set conversations), whose
#: assistant turns often answer and then ask, 0.737 / 0.695 -> 0.713 / 0.667; only-asking turns give
#: 0.743 / 0.720 there, and the same 0.898 here with both rules.


@dataclass(frozen=True)
class Scored:
    seq: int
    score: float
    similarity: float | None
    evidence: float
    in_window: bool


def idf_weights(terms: Sequence[str], total: int, df: Mapping[str, int]) -> dict[str, float]:
    return {t: max(0.0, math.log((total + 1) / (df.get(t, 0) + 0.5))) for t in terms}


def written_only(idf: Mapping[str, float], df: Mapping[str, int]) -> dict[str, float]:
    """The query words at least one of the user's memories holds (the floor's keyword test)."""
    return {t: w for t, w in idf.items() if df.get(t, 0) > 0}


def keyword_evidence(idf: Mapping[str, float], records: Iterable[MemoryRecord]) -> dict[int, float]:
    """The share of the query's words a memory contains, each word weighted by its rarity (IDF): a
    memory holding the one rare name in the question scores high, one sharing only common words low.
    A word is contained when any of its stems is among the memory's (memory/keywords.py)."""
    mass = sum(idf.values())
    if mass <= 0:
        return {}
    stems = {t: keywords.term_stems(t) for t in idf}
    out = {}
    for r in records:
        have = keywords.stem_set(r.text)
        out[r.seq] = sum(w for t, w in idf.items() if any(s in have for s in stems[t])) / mass
    return out


def score(sims: Mapping[int, float], evidence: Mapping[int, float], candidates: Iterable[int],
          in_window: set[int], *, floor: float, strong: Mapping[int, float] | None = None) -> list[Scored]:
    """Every candidate that passes the floor, best first. `strong`: the keyword evidence the floor reads
    (over the words the memories hold, written_only); `evidence` when not given."""
    strong = evidence if strong is None else strong
    out = []
    for seq in candidates:
        sim, ev = sims.get(seq), evidence.get(seq, 0.0)
        if not ((sim is not None and sim >= floor) or strong.get(seq, 0.0) >= STRONG_KEYWORD):
            continue
        inside = seq in in_window
        total = (sim or 0.0) + KEYWORD_WEIGHT * ev + (DATE_BOOST if inside else 0.0)
        out.append(Scored(seq, total, sim, ev, inside))
    out.sort(key=lambda s: (-s.score, -s.seq))
    return out


_SAYS_FIRST = re.compile(r"[.;:]\s")  # a sentence or clause ended before the question


def asks_only(text: str) -> bool:
    """A turn that only asks ("And what did the garage say?", "¡Qué bien! ¿Qué ha preparado?"). One that
    says something first ("Usually that's over-proofing. How long is your bulk fermentation?") is an
    answer itself: it keeps its rank and hands none on."""
    text = text.rstrip()
    return text.endswith("?") and not _SAYS_FIRST.search(text)


def carry_to_replies(scored: Sequence[Scored], replies: Mapping[int, int]) -> list[Scored]:
    """`replies`: a question turn's seq -> its reply's seq. Each reply ranks at least REPLY_GAP below its
    question's score, and the question QUESTION_DISCOUNT below its own; best first."""
    best = {s.seq: s for s in scored}
    for s in scored:
        if (reply := replies.get(s.seq)) is None:
            continue
        carried = s.score - REPLY_GAP
        old = best.get(reply)
        if old is None or old.score < carried:
            best[reply] = Scored(reply, carried, old.similarity if old else None, old.evidence if old else 0.0,
                                 s.in_window or (old is not None and old.in_window))
        best[s.seq] = Scored(s.seq, s.score - QUESTION_DISCOUNT, s.similarity, s.evidence, s.in_window)
    return sorted(best.values(), key=lambda s: (-s.score, -s.seq))


# "What noise was the car making, and which part did they replace?": two questions in one. Each part is
# searched alone and the results interleaved, so the answer to each is in the first few. Measured on the
# long-conversation dev split: recall@5 0.661 -> 0.704 (multi-hop 0.417 -> 0.483), bilingual unchanged.
_SECOND_QUESTION = re.compile(
    r",?\s+(?:and|y|e)\s+(?=(?:what|which|who|where|when|how|why|qu[eé]|qui[eé]n|d[oó]nde|c[oó]mo|cu[aá]nd"
    r"|cu[aá]l|por qu[eé])\b)", re.IGNORECASE)
_T = TypeVar("_T")


def question_parts(query: str) -> list[str]:
    """The questions a query asks: itself, or its parts when it joins questions with "and" / "y"."""
    parts = [p.strip(" ,¿?") for p in _SECOND_QUESTION.split(query)]
    parts = [p for p in parts if p]
    return parts if len(parts) > 1 else [query]


def interleave(lists: Sequence[Sequence[_T]], key: Callable[[_T], object], top_k: int) -> list[_T]:
    """First of each list, then second of each...; an item already taken is skipped."""
    out: list[_T] = []
    seen: set[object] = set()
    for i in range(max((len(x) for x in lists), default=0)):
        for items in lists:
            if i < len(items) and (k := key(items[i])) not in seen:
                seen.add(k)
                out.append(items[i])
    return out[:top_k]
