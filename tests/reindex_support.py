"""Two small deterministic embedders of different models and dimensions for reindex tests.

Both hash words to fixed random vectors (a bag of words). B also reads English words as their Spanish
translations, so it finds "revisar el coche" for "car" where A cannot: a search that gives B's results
is told apart from one on A's vectors by what it finds, not only by a recorded name.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence

import numpy as np

_WORD = re.compile(r"\w+")
TRANSLATE = {"car": "coche", "service": "revisar", "football": "fútbol", "dentist": "dentista",
             "keys": "llaves", "passport": "pasaporte", "vet": "veterinario"}


class FakeEmbedder:
    def __init__(self, model_id: str, dim: int, seed: int, translate: dict[str, str] | None = None) -> None:
        self.model_id = model_id
        self.dim = dim
        self.seed = seed
        self.translate = translate or {}
        self.texts: list[str] = []  # every text embedded, in order (calls that raised are not counted)

    def _word(self, word: str) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(word.encode()) ^ self.seed)
        return rng.standard_normal(self.dim).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for w in _WORD.findall(text.lower()):
                out[i] += self._word(self.translate.get(w, w))
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-12)
        self.texts.extend(texts)
        return out


def model_a() -> FakeEmbedder:
    return FakeEmbedder("fake-a", 64, 1)


def model_b() -> FakeEmbedder:
    return FakeEmbedder("fake-b", 128, 2, TRANSLATE)


class Crashing(FakeEmbedder):
    """Model B that raises on its (after+1)-th call (a crash after `after` batches; None: never), calling
    `hook(call number)` first on every call: what a test does "meanwhile"."""

    def __init__(self, after: int | None, hook: Callable[[int], None] | None = None) -> None:
        b = model_b()
        super().__init__(b.model_id, b.dim, b.seed, b.translate)
        self.after = after
        self.calls = 0
        self.hook = hook

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.hook:
            self.hook(self.calls)
        if self.after is not None and self.calls > self.after:
            raise RuntimeError("injected crash")
        return super().embed(texts)
