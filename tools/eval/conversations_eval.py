"""The first labelled set (resources/eval/conversations.json): vector-only, keyword-only and hybrid.

`tools/retrieval_eval.py --set conversations [--distractors N] [--details]`. Twelve conversations of one
user, stored through the real log_conversation tool (in-process MCP client); each question ranked by
MemoryService.search_mode in each mode. recall@5: share of a question's answering turns in the first five;
MRR@10: 1/rank of the first answering turn within ten; hit@5: any answering turn in the first five.
--distractors N first stores N synthetic memories (bench_common's generator, real embeddings). The
sensitivity table re-runs hybrid with other keyword weights (ranking.KEYWORD_WEIGHT) and plain reciprocal
rank fusion, to explain the result, not to pick a winner on this set.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench_common import markdown_table, synthetic_memories
from mcp import Client

from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.memory.ports import MemoryFilter
from jarvis_mcp.memory.service import MemoryInput
from jarvis_mcp.server import build_server
from jarvis_mcp.text import keyword_terms

try:  # where the service reads its keyword weight (memory/service.py before issue 11: the baseline run)
    from jarvis_mcp.memory import ranking as weights
except ImportError:
    from jarvis_mcp.memory import service as weights  # type: ignore[no-redef]
KEYWORD_WEIGHT = weights.KEYWORD_WEIGHT

DATASET = Path(__file__).resolve().parents[2] / "resources" / "eval" / "conversations.json"
MODES = ("vector", "keyword", "hybrid")
TYPES = ("paraphrase", "exact", "mixed")
DEPTH = 10  # ranks kept per query: recall@5 and hit@5 read the first 5, MRR the first 10
USER = "eval"


def load_dataset(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    convs = data["conversations"]
    for q in data["questions"]:
        if q["type"] not in TYPES:
            raise SystemExit(f"{q['id']}: unknown type {q['type']!r}")
        for c, t in q["answers"]:
            if not (0 <= c < len(convs) and 0 <= t < len(convs[c]["turns"])):
                raise SystemExit(f"{q['id']}: answer [{c}, {t}] is not a turn of the dataset")
    return data


async def log_conversations(settings: Settings, embedder: Any,
                            conversations: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Store every conversation through the log_conversation tool; memory id -> (conversation, turn)."""
    where: dict[str, tuple[int, int]] = {}
    async with Client(build_server(settings, embedder=embedder)) as client:
        for ci, conv in enumerate(conversations):
            start = datetime.fromisoformat(conv["started"])
            messages = [{"role": role, "content": text, "at": (start + timedelta(minutes=i)).isoformat()}
                        for i, (role, text) in enumerate(conv["turns"])]
            result = await client.call_tool("log_conversation", {"messages": messages, "title": conv["title"]})
            if result.is_error:
                raise SystemExit(f"log_conversation failed for {conv['title']!r}: {result.content}")
            ids = result.structured_content["memory_ids"]
            if len(ids) != len(messages):
                raise SystemExit(f"{conv['title']!r}: {len(ids)} ids for {len(messages)} turns")
            where.update({mid: (ci, ti) for ti, mid in enumerate(ids)})
    return where


def rank_scores(ranked: Sequence[tuple[int, int] | None], relevant: set[tuple[int, int]]) -> dict[str, float]:
    first = next((i + 1 for i, r in enumerate(ranked[:DEPTH]) if r in relevant), None)
    found = len(relevant & {r for r in ranked[:5] if r is not None})
    return {"recall@5": found / len(relevant), "mrr@10": 1.0 / first if first else 0.0, "hit@5": float(found > 0),
            "first_rank": first or 0}


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def rrf(by_vector: list[int], by_keyword: list[int], top: int, k: int = 60) -> list[int]:
    """Plain reciprocal rank fusion of the two lists, equal weights: the usual baseline."""
    fused: dict[int, float] = {}
    for order in (by_vector, by_keyword):
        for rank, seq in enumerate(order):
            fused[seq] = fused.get(seq, 0.0) + 1.0 / (k + rank + 1)
    return sorted(fused, key=fused.__getitem__, reverse=True)[:top]


WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def evaluate(settings: Settings, embedder: Any, data: dict[str, Any],
             where: dict[str, tuple[int, int]], distractors: int) -> dict[str, Any]:
    runtime = open_runtime(settings, embedder=embedder)
    try:
        uid = runtime.local_user_id()
        memory = runtime.scope_for(uid).memory
        if distractors:
            texts = synthetic_memories(distractors, seed=77, variant="distractor")
            for start in range(0, len(texts), 256):
                memory.remember_many([MemoryInput(m.text, m.kind if m.kind != "conversation" else "note",
                                                  list(m.tags)) for m in texts[start : start + 256]])
        per_question = []
        seq_where: dict[int, tuple[int, int]] = {}
        for rec in runtime.store.memories_by_id(uid, list(where)):
            seq_where[rec.seq] = where[rec.id]
        raw_lists: list[tuple[list[int], list[int]]] = []
        for q in data["questions"]:
            relevant = {tuple(a) for a in q["answers"]}
            row: dict[str, Any] = {"id": q["id"], "type": q["type"], "query": q["query"]}
            for mode in MODES:
                ids = memory.search_mode(q["query"], DEPTH, mode)
                row[mode] = rank_scores([where.get(i) for i in ids], relevant)  # type: ignore[arg-type]
            per_question.append(row)
            vec = [s for s, _ in runtime.index.search(uid, getattr(embedder, "embed_query", embedder.embed)([q["query"]])[0], MemoryFilter(), 50)]
            kw = runtime.store.keyword_search(uid, keyword_terms(q["query"]), MemoryFilter(), 50)
            raw_lists.append((vec, kw))
        sensitivity = []
        id_of = {rec.seq: rec.id for rec in runtime.store.memories_by_id(uid, list(where))}
        for weight in WEIGHTS:
            weights.KEYWORD_WEIGHT = weight
            try:
                scores = [rank_scores([where.get(i) for i in memory.search_mode(q["query"], DEPTH, "hybrid")],
                                      {tuple(a) for a in q["answers"]}) for q in data["questions"]]  # type: ignore[misc]
            finally:
                weights.KEYWORD_WEIGHT = KEYWORD_WEIGHT
            sensitivity.append({"fusion": f"cosine + {weight} x keyword evidence", **_means(scores)})
        scores = [rank_scores([where.get(id_of.get(s)) for s in rrf(vec, kw, DEPTH)], {tuple(a) for a in q["answers"]})  # type: ignore[misc]
                  for q, (vec, kw) in zip(data["questions"], raw_lists, strict=True)]
        sensitivity.append({"fusion": "reciprocal rank fusion (k=60, equal weights)", **_means(scores)})
        return {"per_question": per_question, "sensitivity": sensitivity}
    finally:
        runtime.close()


def _means(scores: list[dict[str, float]]) -> dict[str, float]:
    return {"recall@5": mean([s["recall@5"] for s in scores]), "mrr@10": mean([s["mrr@10"] for s in scores])}


def summarise(per_question: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for group in ("all", *TYPES):
        rows = [r for r in per_question if group == "all" or r["type"] == group]
        out[group] = {mode: {metric: round(mean([r[mode][metric] for r in rows]), 3)
                             for metric in ("recall@5", "mrr@10", "hit@5")} | {"questions": len(rows)}
                      for mode in MODES}
    return out


def report(result: dict[str, Any]) -> str:
    summary = result["summary"]
    lines = [f"{result['turns']} turns in {result['conversations']} conversations, {result['questions']} questions, "
             f"{result['distractors']} distractor memories; embedder {result['embedder']}; keyword weight {KEYWORD_WEIGHT}.\n"]
    rows = []
    for group in ("all", *TYPES):
        for mode in MODES:
            s = summary[group][mode]
            rows.append((group, int(s["questions"]), mode, s["recall@5"], s["mrr@10"], s["hit@5"]))
    lines.append(markdown_table(["questions", "n", "mode", "recall@5", "MRR@10", "hit@5"], rows))
    best = {m: summary["all"][m] for m in MODES}
    beats = all(best["hybrid"][metric] > max(best["vector"][metric], best["keyword"][metric])
                for metric in ("recall@5", "mrr@10"))
    lines.append("")
    lines.append(f"hybrid beats both single retrievers on recall@5 and MRR@10 overall: {'yes' if beats else 'NO'}")
    lines.append(f"\nSensitivity: hybrid with other fusions, recall@5 / MRR@10 over all questions (the service: "
                 f"cosine + {KEYWORD_WEIGHT} x keyword evidence).\n")
    lines.append(markdown_table(["fusion", "recall@5", "MRR@10"],
                                [(s["fusion"], f"{s['recall@5']:.3f}", f"{s['mrr@10']:.3f}") for s in result["sensitivity"]]))
    return "\n".join(lines)


def details(per_question: list[dict[str, Any]]) -> str:
    rows = [(r["id"], r["type"], r["query"], *[r[m]["first_rank"] or "-" for m in MODES]) for r in per_question]
    return markdown_table(["id", "type", "query", *[f"{m} rank" for m in MODES]], rows)


def run(embedder: Any, home: Path, distractors: int, dataset: Path = DATASET) -> dict[str, Any]:
    data = load_dataset(dataset)
    settings = Settings(home=home, user=USER, log_level="WARNING", cache_mb=0)
    where = asyncio.run(log_conversations(settings, embedder, data["conversations"]))
    evaluated = evaluate(settings, embedder, data, where, distractors)
    return {
        "set": "conversations", "embedder": embedder.model_id, "keyword_weight": KEYWORD_WEIGHT,
        "conversations": len(data["conversations"]), "turns": sum(len(c["turns"]) for c in data["conversations"]),
        "questions": len(data["questions"]), "distractors": distractors,
        "summary": summarise(evaluated["per_question"]), **evaluated,
    }
