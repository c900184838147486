"""The local analyzer's vocabulary: the valence lexicons (data/sentiment/*.tsv), the words that change a
valence (negators, boosters, contrast) and the sarcasm cues, in Spanish and English, all folded (lower
case, no accents) the way the analyzer folds text. Loaded once per process; nothing is downloaded."""

from __future__ import annotations

import functools
from importlib import resources

from jarvis_mcp.text import fold

LANGUAGES = ("es", "en")

NEGATORS = {
    "es": frozenset({"no", "nunca", "jamas", "tampoco", "ni", "sin", "ninguna", "ninguno", "ningun", "nada"}),
    "en": frozenset({"not", "no", "never", "without", "nothing", "none", "neither", "nor", "cannot", "hardly"}),
}
# Multipliers of the next sentiment word ("muy bueno", "a bit slow").
BOOSTERS = {
    "muy": 1.4, "mucho": 1.3, "muchas": 1.3, "muchisimo": 1.6, "tan": 1.3, "super": 1.4, "realmente": 1.4,
    "totalmente": 1.4, "absolutamente": 1.5, "bastante": 1.2, "increiblemente": 1.5, "sumamente": 1.5,
    "demasiado": 1.3, "tremendamente": 1.5, "claramente": 1.3, "rotundo": 1.3, "completamente": 1.4,
    "very": 1.4, "really": 1.4, "so": 1.3, "extremely": 1.6, "totally": 1.4, "absolutely": 1.5, "truly": 1.4,
    "incredibly": 1.5, "highly": 1.4, "completely": 1.4, "utterly": 1.5, "such": 1.3, "huge": 1.3,
    "quite": 1.2, "most": 1.2, "seriously": 1.3, "deeply": 1.4,
    "poco": 0.6, "algo": 0.7, "ligeramente": 0.6, "slightly": 0.6, "somewhat": 0.7, "bit": 0.6, "little": 0.6,
}
# A clause after "but" weighs more than the one before it; a clause opened by "although" weighs less.
BUT = frozenset({"pero", "but", "however", "sin embargo", "no obstante", "yet"})
ALTHOUGH = frozenset({"aunque", "although", "though", "even though", "a pesar de", "despite", "pese a"})
# A message that opens with praise and goes on about a mishap is, in these messages, nearly always sarcasm.
PRAISE_OPENERS = frozenset({
    "genial", "perfecto", "estupendo", "fantastico", "maravilloso", "que maravilla", "bravo", "que bien",
    "vaya", "ah genial", "oh genial", "great", "perfect", "wonderful", "fantastic", "lovely", "brilliant",
    "oh great", "wow", "awesome", "nice", "excellent", "superb", "terrific",
})
MISHAP_CUES = frozenset({
    "otra vez", "de nuevo", "como siempre", "otra", "segunda vez", "tercera vez", "tercer", "volver", "vuelto",
    "again", "as usual", "another", "second time", "third", "once more", "ahora resulta", "now it turns out",
})
# Phrases that are sarcastic on their own, whatever else the message says.
SARCASM_MARKERS = frozenset({
    "justo lo que necesitaba", "lo que me faltaba", "gracias por nada", "que suerte la mia", "que detalle",
    "si claro", "claro porque", "como no", "just what i needed", "thanks for nothing", "lucky me",
    "how thoughtful", "yeah right", "sure because", "oh great", "ah genial", "so fast", "que rapidez",
    "just great", "simplemente genial", "lo que faltaba", "could have been an email", "podria haber sido un correo",
})
EMOJI = {
    "😊": 1.6, "🙂": 1.0, "😀": 2.0, "😃": 2.0, "😄": 2.0, "😁": 2.0, "😍": 2.6, "❤": 2.4, "♥": 2.2, "💕": 2.2,
    "👍": 1.5, "🙏": 1.0, "🎉": 2.0, "👏": 1.8, "🥳": 2.2, "😂": 1.0, "🤗": 1.8, "💪": 1.4, "✨": 0.8, "😘": 2.0,
    "😢": -2.0, "😭": -2.2, "😞": -2.0, "😔": -1.8, "😡": -2.8, "😠": -2.5, "🤬": -3.0, "👎": -2.0, "💔": -2.5,
    "😤": -2.0, "😒": -1.6, "🙄": -1.2, "😩": -2.0, "😫": -2.0, "☹": -2.0, "🙁": -1.5, "😰": -1.8, "😟": -1.6,
}
EMOTICONS = {":)": 1.5, ":-)": 1.5, ":d": 2.0, ";)": 1.0, ":(": -1.6, ":-(": -1.6, ":'(": -2.0}
SARCASM_EMOJI = frozenset({"🙄", "😒"})

_STOPWORDS = {
    "es": frozenset(["el", "la", "los", "las", "de", "del", "que", "y", "en", "un", "una", "por", "para", "con", "es", "esta", "estan", "muy", "pero", "se", "me", "te", "lo", "al", "su", "mi", "mas", "ya", "como", "hay", "ha", "han", "fue", "nos", "le", "les", "son", "eso", "esto", "sus", "tu", "yo", "hemos"]),
    "en": frozenset(["the", "a", "an", "and", "of", "to", "in", "is", "it", "that", "for", "with", "on", "was", "are", "this", "you", "i", "we", "be", "have", "has", "but", "my", "your", "at", "so", "our", "they", "will", "would", "it's", "i'm", "can", "just", "do", "did", "had", "been", "there"]),
}


@functools.cache
def lexicon(lang: str) -> dict[str, float]:
    """word or phrase -> valence, from the packaged TSV (comments start with #)."""
    text = resources.files("jarvis_mcp").joinpath(f"data/sentiment/{lang}.tsv").read_text(encoding="utf-8")
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("\t")
            out[fold(key)] = float(value)
    return out


@functools.cache
def phrase_starters() -> frozenset[str]:
    """First words of the lexicons' phrases: only there is a longer match worth trying."""
    return frozenset(k.split()[0] for lang in LANGUAGES for k in lexicon(lang) if " " in k)


@functools.cache
def longest_phrase() -> int:
    return max(len(k.split()) for lang in LANGUAGES for k in lexicon(lang))


def detect_language(words: list[str], raw: str) -> str:
    """es or en, from function words, Spanish-only characters and each lexicon's own words; English when
    nothing tells."""
    es_words, en_words = lexicon("es"), lexicon("en")
    es = sum(w in _STOPWORDS["es"] for w in words) + 2 * sum(c in "ñ¿¡áéíóú" for c in raw.lower())
    en = sum(w in _STOPWORDS["en"] for w in words)
    es += sum(w in es_words and w not in en_words for w in words)
    en += sum(w in en_words and w not in es_words for w in words)
    return "es" if es > en else "en"


SUPERLATIVE = 1.4  # "buenísimo" is "muy bueno"


def spanish_variants(word: str) -> list[tuple[str, float]]:
    """Forms to look up for a Spanish word, with the factor each carries: itself, singular, masculine, and
    -ísimo's base (stronger)."""
    out = [(word, 1.0)]
    for suffix in ("isimos", "isimas", "isimo", "isima"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            out.append((word[: -len(suffix)] + "o", SUPERLATIVE))
    if word.endswith("es") and len(word) > 4:
        out.append((word[:-2], 1.0))
    if word.endswith("s") and len(word) > 3:
        out.append((word[:-1], 1.0))
    for form, factor in list(out):
        if form.endswith("ora") and len(form) > 4:
            out.append((form[:-1], factor))  # encantadora -> encantador
        elif form.endswith("a") and len(form) > 3:
            out.append((form[:-1] + "o", factor))
    return out
