"""The keyword form of text: what both stores index and what queries are matched against.

A word is lower-cased, accent-folded and then reduced by the Snowball stemmers of both languages the
assistant serves (Spanish and English), and both stems are kept. So "revisiones" meets "revisión",
"coches" meets "coche", "running" meets "run", and "canción" meets "cancion", whatever the language
of the text: detecting the language of a three-word memory or query is guesswork, while two stems per
word cost only a bigger vocabulary. A query word matches a memory when any of its stems is among the
memory's stems.

Folding comes before stemming, so an accent typed or forgotten on either side gives the same stems.
The cost of keeping both: an English and a Spanish word can share a stem ("date" and "dato" -> "dat");
keyword evidence only adds to the vector score (memory/ranking.py), so such a collision moves a rank,
it never makes a memory.

Changing anything here changes the indexed form: bump FORM so both stores rebuild their keyword index
(SQLite on open, Postgres in `jarvis-mcp migrate`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

from jarvis_mcp.text import fold

#: The version of the indexed form; stores record it and rebuild when it changes.
FORM = 1
_WORD = re.compile(r"[^\W_]+")  # letters and digits; "_" splits words, as in the FTS5 tokenizer
_STEMMERS = (Stemmer.Stemmer("spanish"), Stemmer.Stemmer("english"))


@lru_cache(maxsize=65_536)
def word_stems(word: str) -> tuple[str, ...]:
    """The stems of one folded word (one or two, the word's own first when unchanged)."""
    if word.isdigit() or len(word) < 3:
        return (word,)
    return tuple(dict.fromkeys(s.stemWord(word) for s in _STEMMERS))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def index_terms(text: str) -> list[str]:
    """Every word's stems, in order (repeats kept: bm25 counts them)."""
    return [stem for w in words(text) for stem in word_stems(w)]


def stem_set(text: str) -> frozenset[str]:
    return frozenset(index_terms(text))


def term_stems(term: str) -> tuple[str, ...]:
    """The stems a query term (one word, or a few given together) matches."""
    return tuple(dict.fromkeys(s for w in words(term) for s in word_stems(w)))
