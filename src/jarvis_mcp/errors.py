"""Errors the services raise. Their messages go to the client verbatim, so they name the field and the
rule and never carry internals; anything else is logged and answered with an opaque reference."""

from __future__ import annotations


class JarvisError(Exception):
    """An error whose message is safe and useful to show to the model."""


class InvalidInput(JarvisError):
    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class NotFound(JarvisError):
    """Missing, or owned by someone else: the two must be indistinguishable."""

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} not found: {ident}")


class StoreMismatch(JarvisError):
    """The store holds vectors from another embedding model; mixing them would corrupt search."""

    @classmethod
    def embedding_model(cls, where: str, stored: dict[str, str], model_id: str, dim: int, fresh: str) -> StoreMismatch:
        return cls(
            f"{where} holds vectors from {stored.get('embedding_model')} (dimension {stored.get('embedding_dim')}) "
            f"but the configured embedder is {model_id} (dimension {dim}); run `jarvis-mcp reindex` to move it to "
            f"{model_id} (servers on the old model keep answering until it switches), or use the original embedder "
            f"or {fresh}"
        )

    @classmethod
    def reindexed(cls, where: str, stored: dict[str, str], model_id: str) -> StoreMismatch:
        return cls(
            f"{where} was moved to {stored.get('embedding_model')} (dimension {stored.get('embedding_dim')}) by "
            f"`jarvis-mcp reindex` while this server ran on {model_id}; restart it configured for that embedder"
        )


class LimitExceeded(JarvisError):
    """A usage limit of the caller's tier is reached; the message says which one and when it resets."""
