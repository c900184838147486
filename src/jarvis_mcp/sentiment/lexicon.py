"""The local analyzer: a valence lexicon with rules, in Spanish and English, nothing downloaded.

Each sentiment word (or phrase) found gives its valence, changed by what surrounds it: a negator up to
three words before flips and dampens it ("no está mal", "not bad"), a booster multiplies it ("muy", "a
bit"), a clause after "pero"/"but" weighs 1.5 and the one before 0.5, a clause opened by "aunque"/
"although" weighs 0.5. Emoji and emoticons add their own valence; exclamation marks stress the total.
Sarcasm (praise opening a message about a mishap, "genial, otra vez tarde"; set phrases such as "just what
I needed"; an eye roll) turns the praise negative. The sum is squashed into [-1, 1]; thresholds were
chosen on the dev half of tools/eval/sentiment only (tools/sentiment_eval.py measures the test half).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field

from jarvis_mcp.sentiment import words as w
from jarvis_mcp.sentiment.ports import Sentiment
from jarvis_mcp.text import fold

NEGATION_WINDOW = 4  # Spanish puts auxiliaries between: "no ha sido una buena semana"
NEGATION_SCALE = -0.74  # a negated word keeps part of its strength, reversed ("not bad" is mildly good)
ALPHA = 15.0  # the squashing constant: score = s / sqrt(s^2 + ALPHA)
THRESHOLD = 0.25  # |score| below this is neutral
SARCASM_PENALTY = -1.2

_TOKEN = re.compile(r"[a-zñ0-9]+(?:'[a-z]+)?|[,.;:!?¿¡…]|\.\.\.")
_CLAUSE_END = frozenset(",.;:!?¿¡…")
_EMOTICON = re.compile(r"(?<!\w)(:-?\)|:-?\(|:d\b|;\)|:'\()", re.IGNORECASE)


@dataclass
class _Hit:
    start: int
    end: int  # token index after the phrase
    key: str
    valence: float


@dataclass
class _Reading:
    tokens: list[str]
    lang: str
    hits: list[_Hit] = field(default_factory=list)


def _tokens(text: str) -> list[str]:
    folded = fold(text).replace("’", "'")
    folded = re.sub(r"\b(can|won)'t\b", lambda m: {"can": "can not", "won": "will not"}[m.group(1)], folded)
    folded = re.sub(r"(\w)n't\b", r"\1 not", folded)  # don't -> do not
    return _TOKEN.findall(folded)


@functools.lru_cache(maxsize=65_536)
def _lookup(key: str, lang: str) -> float | None:
    single = " " not in key
    for source in (lang, *[x for x in w.LANGUAGES if x != lang]):
        table = w.lexicon(source)
        if key in table:
            return table[key]
        if source == "es" and single:
            for form, factor in w.spanish_variants(key)[1:]:
                if form in table:
                    return table[form] * factor
    return None


def _find(tokens: list[str], lang: str) -> list[_Hit]:
    hits, i, longest, starters = [], 0, w.longest_phrase(), w.phrase_starters()
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i) if tokens[i] in starters else 1, 0, -1):
            span = tokens[i:i + n]
            if any(t in _CLAUSE_END for t in span):
                continue
            valence = _lookup(" ".join(span), lang)
            if valence is not None:
                hits.append(_Hit(i, i + n, " ".join(span), valence))
                i += n
                break
        else:
            i += 1
    return hits


def _negated(tokens: list[str], start: int) -> bool:
    negators = w.NEGATORS["es"] | w.NEGATORS["en"]  # a Spanish "no" in an English message still negates
    for j in range(start - 1, max(-1, start - 1 - NEGATION_WINDOW), -1):
        if tokens[j] in _CLAUSE_END or tokens[j] in w.BUT:
            return False
        if tokens[j] in negators:
            return True
    return False


def _boost(tokens: list[str], start: int) -> float:
    factor = 1.0
    for j in range(start - 1, max(-1, start - 3), -1):
        if tokens[j] in w.BOOSTERS:
            factor *= w.BOOSTERS[tokens[j]]
        elif tokens[j] in _CLAUSE_END:
            break
    return factor


def _clause_weights(tokens: list[str]) -> list[float]:
    """Weight of each token: before the first but 0.5 and after it 1.5; inside an although-clause 0.5."""
    weights = [1.0] * len(tokens)
    joined = [" ".join(tokens[i:i + 2]) for i in range(len(tokens))]
    for i, tok in enumerate(tokens):
        if tok in w.BUT or joined[i] in w.BUT:
            weights = [0.5] * i + [1.5] * (len(tokens) - i)
            break
    for i, tok in enumerate(tokens):
        if tok in w.ALTHOUGH or joined[i] in w.ALTHOUGH:
            j = i
            while j < len(tokens) and tokens[j] not in _CLAUSE_END:
                weights[j] *= 0.5
                j += 1
    return weights


def _sarcastic(tokens: list[str], raw: str, hits: list[_Hit]) -> bool:
    words = [t for t in tokens if t not in _CLAUSE_END]
    text = " ".join(words)
    padded = f" {text} "
    if any(f" {m} " in padded for m in w.SARCASM_MARKERS) or any(e in raw for e in w.SARCASM_EMOJI):
        return True
    opener = next((o for o in w.PRAISE_OPENERS if text.startswith(o + " ") or text == o), None)
    if opener is None:
        return False
    after = len(opener.split())
    cut = after < len(tokens) and tokens[after] in _CLAUSE_END  # "Genial, ..." / "Great. ..."
    rest = f" {' '.join(words[after:])} "
    mishap = any(f" {c} " in rest for c in w.MISHAP_CUES) or any(h.valence < 0 and h.start >= after for h in hits)
    return cut and mishap


def analyze_text(text: str) -> Sentiment:
    raw = text
    tokens = _tokens(text)
    word_tokens = [t for t in tokens if t not in _CLAUSE_END]
    lang = w.detect_language(word_tokens, raw)
    hits = _find(tokens, lang)
    weights = _clause_weights(tokens)
    sarcasm = _sarcastic(tokens, raw, hits)
    total, cues, pos, neg = 0.0, [], 0.0, 0.0
    for hit in hits:
        valence = hit.valence * _boost(tokens, hit.start)
        negated = _negated(tokens, hit.start)
        if negated:
            valence *= NEGATION_SCALE
        if sarcasm and valence > 0:
            valence = -valence
        valence *= weights[hit.start]
        total += valence
        pos, neg = pos + max(valence, 0), neg + min(valence, 0)
        cues.append(("no " if negated else "") + hit.key)
    for char, value in w.EMOJI.items():
        count = raw.count(char)
        if count:
            value = -abs(value) if sarcasm else value
            total += value * count
            cues.append(char)
    for match in _EMOTICON.finditer(raw):
        total += w.EMOTICONS[match.group(1).lower()]
    if sarcasm:
        total += SARCASM_PENALTY
        cues.append("sarcasm")
    bangs = min(raw.count("!"), 4)
    if total and bangs:
        total += math.copysign(0.29 * bangs, total)
    score = total / math.sqrt(total * total + ALPHA)
    return Sentiment(label=_label(score), score=round(score, 3), confidence=_confidence(score, pos, neg, hits),
                     language=lang, sarcasm=sarcasm, cues=tuple(dict.fromkeys(cues))[:8])


def _label(score: float) -> str:
    return "positive" if score >= THRESHOLD else "negative" if score <= -THRESHOLD else "neutral"


def _confidence(score: float, pos: float, neg: float, hits: list[_Hit]) -> float:
    """A heuristic certainty in [0.3, 0.95]: how far the score is from the nearest threshold, lowered
    when the message mixes praise and complaint. Not a calibrated probability."""
    margin = abs(abs(score) - THRESHOLD) / (1 - THRESHOLD if abs(score) >= THRESHOLD else THRESHOLD)
    conf = 0.5 + 0.45 * min(1.0, margin)
    if pos and neg:
        conf -= 0.15 * min(pos, -neg) / max(pos, -neg)
    if not hits and abs(score) < THRESHOLD:
        conf = 0.7  # no sentiment word at all: plainly neutral, as far as a lexicon can tell
    return round(max(0.3, min(0.95, conf)), 2)


class LexiconAnalyzer:
    """The local default (JARVIS_SENTIMENT=local)."""

    name = "lexicon"

    def analyze(self, texts: list[str]) -> list[Sentiment]:
        return [analyze_text(t) for t in texts]
