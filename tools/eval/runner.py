"""Running the labelled sets through the real memory service: store, search, score.

Every set is written through MemoryService (remember_many for the bilingual memories, log_conversation for
each session of a long conversation: speaker, date and position are kept on every turn) into a fresh
SQLite store, with the embedder under test, and every question is asked through MemoryService.search:
the same ranking, keyword search, date boost and relevance floor that `search_memory` runs. Nothing here
re-implements retrieval; the raw cosines used to describe score distributions come from the embedder
itself (the floor is a cosine threshold), computed apart from the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from jarvis_mcp.bootstrap import make_embedder, open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.memory.service import MemoryInput, MemoryService, Turn
from jarvis_mcp.runtime import Runtime

DEPTH = 10  # ranks kept per question: recall@5 / hit@5 read the first 5, MRR the first 10


def load_embedder(name: str) -> Any:
    """The embedder JARVIS_EMBEDDER=name would give the server, loaded and warmed up."""
    model = make_embedder(Settings(embedder=name))  # type: ignore[arg-type]
    model.embed(["warm up"])
    return model


def open_store(home: Path, embedder: Any) -> Runtime:
    # No result cache: every ranking is computed, never replayed.
    return open_runtime(Settings(home=home, user="eval", log_level="WARNING", cache_mb=0), embedder=embedder)


def service_for(runtime: Runtime, user: str) -> MemoryService:
    uid = runtime.store.user_for_identity("local", user, "local", None)
    return runtime.scope_for(uid).memory


@dataclass
class Ranked:
    """One question's answer from the service: set ids in rank order, with scores and cosines."""
    ids: list[str | None]
    scores: list[float]
    similarities: list[float | None]
    ms: float


def ask(memory: MemoryService, query: str, where: dict[str, str], now: datetime | None = None) -> Ranked:
    """Search as search_memory does; `where` maps stored memory ids to the set's ids; `now` is the
    question's date ("hace dos semanas" is read against it)."""
    if now is not None:
        memory.clock = lambda: now
    t0 = time.perf_counter()
    hits = memory.search(query, DEPTH).hits
    ms = (time.perf_counter() - t0) * 1000
    return Ranked([where.get(h.id) for h in hits], [h.score for h in hits], [h.similarity for h in hits], ms)


def rank_scores(ranked: Sequence[str | None], relevant: set[str]) -> dict[str, float]:
    first = next((i + 1 for i, r in enumerate(ranked[:DEPTH]) if r in relevant), None)
    found = len(relevant & {r for r in ranked[:5] if r is not None})
    return {"recall@5": found / len(relevant), "mrr": 1.0 / first if first else 0.0, "hit@5": float(found > 0),
            "first_rank": first or 0}


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def group_means(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return {g: {"n": len(rs), **{m: round(mean([r[m] for r in rs]), 3) for m in ("recall@5", "mrr", "hit@5")}}
            for g, rs in groups.items()}


def median_ms(rows: Sequence[dict[str, Any]]) -> float:
    """Median time of one MemoryService.search (in-process, query embedding included)."""
    return round(float(np.median([r["ms"] for r in rows])), 2) if rows else 0.0


def cosines(embedder: Any, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
    """queries x texts cosine similarities, queries embedded the way the service embeds a search."""
    embed_query = getattr(embedder, "embed_query", embedder.embed)
    q = np.asarray(embed_query(list(queries)), dtype=np.float32)
    t = np.concatenate([np.asarray(embedder.embed(list(texts[i:i + 256])), dtype=np.float32)
                        for i in range(0, len(texts), 256)])
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    return q @ t.T


def quantiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {"n": len(values), **{f"p{p}": round(float(np.percentile(arr, p)), 3) for p in (0, 10, 25, 50, 75, 90, 100)}}


@dataclass
class Timer:
    """Wall time of the phases of one run, reported next to the results."""
    phases: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t0

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.phases.items()}


def store_memories(memory: MemoryService, items: Sequence[dict[str, Any]]) -> dict[str, str]:
    """remember_many for the bilingual memories; stored id -> set id."""
    results = memory.remember_many([MemoryInput(m["text"], "note", [m["topic"]]) for m in items])
    return {r.memory.id: m["id"] for r, m in zip(results, items, strict=True)}


def store_conversation(memory: MemoryService, conv: dict[str, Any]) -> dict[str, str]:
    """One log_conversation per session, each turn with its speaker and time; stored id -> turn id."""
    where: dict[str, str] = {}
    for session in conv["sessions"]:
        turns = [Turn(role=t["role"], content=t["text"], at=datetime.fromisoformat(t["at"])) for t in session["turns"]]
        logged = memory.log_conversation(turns, title=f"{conv['title']} — {session['id']}")
        where.update({mid: t["id"] for mid, t in zip(logged.memory_ids, session["turns"], strict=True)})
    return where
