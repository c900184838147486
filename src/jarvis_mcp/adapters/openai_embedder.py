"""OpenAI embeddings (JARVIS_EMBEDDER=openai): text-embedding-3-small by default, `dimensions` settable.

Requests are batched (at most 2,048 inputs and a bounded number of tokens each), retried with
exponential backoff and full jitter on 429, 5xx and connection failures within a time budget, and
every other failure is an error that says what went wrong. The model id recorded by the store carries
the dimension, so the store's model/dimension guard refuses vectors of another size.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import openai

from jarvis_mcp.errors import JarvisError

log = logging.getLogger(__name__)

NATIVE_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_INPUTS = 2048  # the API's cap on inputs per request
# The API caps a request at 300,000 tokens. A token is at least one byte of UTF-8, so bytes bound tokens
# from above: batches cut on bytes never exceed the cap, with no tokenizer to download.
MAX_REQUEST_TOKENS = 250_000
_RETRY_STATUS = {408, 409, 429}


class EmbeddingUnavailable(JarvisError):
    """The provider kept failing with temporary errors for the whole retry budget: try again later."""


class EmbeddingError(RuntimeError):
    """A failure retrying cannot fix (credentials, model, request): the operator has to act."""


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in _RETRY_STATUS or exc.status_code >= 500)


def _retry_after(exc: Exception) -> float | None:
    """The server's own Retry-After (seconds or HTTP-date not handled: ms or s only)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, openai.APIStatusError):
        body = exc.body.get("error", exc.body) if isinstance(exc.body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        return f"HTTP {exc.status_code}: {message if isinstance(message, str) else exc.message}"
    return f"{type(exc).__name__}: {exc}"


class OpenAIEmbedder:
    """`ports.Embedder` over the OpenAI embeddings API. Thread-safe (one pooled HTTP client)."""

    def __init__(
        self,
        api_key: str,
        *,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        retry_budget: float = 60.0,
        max_inputs: int = MAX_INPUTS,
        max_request_tokens: int = MAX_REQUEST_TOKENS,
        http_client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key:
            raise ValueError("an API key is required")
        if dimensions is not None:
            if dimensions < 1:
                raise ValueError(f"dimensions must be positive, got {dimensions}")
            if model == "text-embedding-ada-002":
                raise ValueError("text-embedding-ada-002 has a fixed dimension (1536); dimensions cannot be set")
            native = NATIVE_DIMS.get(model)
            if native is not None and dimensions > native:
                raise ValueError(f"{model} gives at most {native} dimensions, got {dimensions}")
        elif model not in NATIVE_DIMS:
            raise ValueError(f"unknown dimension for model {model!r}; set the dimensions explicitly")
        if not 1 <= max_inputs <= MAX_INPUTS:
            raise ValueError(f"max_inputs must be in [1, {MAX_INPUTS}]")
        self.model = model
        self.dimensions = dimensions
        self.dim = dimensions or NATIVE_DIMS[model]
        # The dimension is part of the id: 256-dim and 1536-dim vectors of one model must never mix.
        self.model_id = f"openai/{model}@{self.dim}"
        self.retry_budget = retry_budget
        self.max_inputs = max_inputs
        self.max_request_tokens = max_request_tokens
        self._sleep = sleep
        self._clock = clock
        # Retries are ours (bounded in time, with jitter), so the SDK's own are off.
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0,
                                     http_client=http_client)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), np.float32)
        for start, batch in self._batches(texts):
            out[start : start + len(batch)] = self._request(batch)
        return out

    def _batches(self, texts: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
        start, batch, budget = 0, [], 0
        for i, text in enumerate(texts):
            text = text if text.strip() else " "  # the API refuses empty strings
            cost = len(text.encode("utf-8"))
            if batch and (len(batch) == self.max_inputs or budget + cost > self.max_request_tokens):
                yield start, batch
                start, batch, budget = i, [], 0
            batch.append(text)
            budget += cost
        if batch:
            yield start, batch

    def _request(self, batch: list[str]) -> np.ndarray:
        kwargs: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "base64"}
        if self.dimensions is not None:
            kwargs["dimensions"] = self.dimensions
        deadline = self._clock() + self.retry_budget
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._client.embeddings.create(**kwargs)
                break
            except openai.OpenAIError as exc:
                if not _retryable(exc):
                    raise self._fatal(exc) from None
                # Full jitter: processes throttled together do not retry together.
                delay = _retry_after(exc) or random.uniform(0, min(8.0, 0.5 * 2 ** (attempt - 1)))
                left = deadline - self._clock()
                if delay > left:
                    log.error("OpenAI embeddings: giving up after %d attempts: %s", attempt, _describe(exc))
                    raise EmbeddingUnavailable(
                        f"the embedding service (OpenAI) is unavailable right now ({_describe(exc)}, "
                        f"{attempt} attempts); try again shortly"
                    ) from None
                log.warning("OpenAI embeddings: %s; retry %d in %.2fs", _describe(exc), attempt, delay)
                self._sleep(delay)
        return self._decode(response, len(batch))

    def _decode(self, response: Any, n: int) -> np.ndarray:
        rows = sorted(response.data, key=lambda d: d.index)
        if len(rows) != n:
            raise EmbeddingError(f"OpenAI returned {len(rows)} embeddings for {n} inputs")
        out = np.empty((n, self.dim), np.float32)
        for i, row in enumerate(rows):
            value = row.embedding
            vec = (np.frombuffer(base64.b64decode(value), "<f4") if isinstance(value, str)
                   else np.asarray(value, np.float32))
            if vec.shape != (self.dim,):
                raise EmbeddingError(f"OpenAI returned {vec.shape[0]} dimensions, expected {self.dim} "
                                     f"(model {self.model})")
            out[i] = vec
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def _fatal(self, exc: Exception) -> Exception:
        if isinstance(exc, openai.AuthenticationError):
            return EmbeddingError("OpenAI rejected JARVIS_OPENAI_API_KEY (HTTP 401); check the key")
        if isinstance(exc, openai.PermissionDeniedError):
            return EmbeddingError(f"OpenAI refused access to {self.model} (HTTP 403): {_describe(exc)}")
        if isinstance(exc, openai.NotFoundError):
            return EmbeddingError(f"OpenAI does not know the model {self.model!r} (HTTP 404); "
                                  "check JARVIS_OPENAI_MODEL")
        return EmbeddingError(f"OpenAI embeddings request failed: {_describe(exc)}")

    def close(self) -> None:
        self._client.close()
