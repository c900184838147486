"""Sweeps of search_memory's ranking rules on the dev splits (never the test splits): how the figures in
memory/ranking.py and memory/context.py were chosen. tools/retrieval_eval.py reports the chosen rules.

    .venv/bin/python tools/retrieval_rules.py longconv --context 1 --boosts 0,0.1,0.2,0.3,0.4
    .venv/bin/python tools/retrieval_rules.py longconv --context 0 --boosts 0.3
    .venv/bin/python tools/retrieval_rules.py bilingual --floors 0,0.15,0.2,0.25,0.3
    .venv/bin/python tools/retrieval_rules.py bilingual --no-stems          # keyword search without stemming

Each line: recall@5 / MRR@10 (first answer within ten) per group, through MemoryService.search (the
service's whole path: both retrievers, keyword evidence, date boost, relevance floor), clock set to the
question's asked_at. longconv stores every session of each conversation with log_conversation, one user
per conversation; bilingual stores its memories with remember_many. For the none-questions of the
bilingual set, "empty" is the share answered with no hit at all.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean
from typing import Any

from eval.sets import load_bilingual, load_longconv

from jarvis_mcp.bootstrap import make_embedder, open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.memory import context, keywords, ranking
from jarvis_mcp.memory.service import MemoryInput, MemoryService, Turn


def store_longconv(home: Path, embedder: Any) -> list[tuple[dict[str, Any], MemoryService, dict[str, str]]]:
    out = []
    for conv in load_longconv():
        rt = open_runtime(Settings(home=home, user=conv["id"], cache_mb=0, log_level="WARNING"), embedder=embedder)
        service = rt.scope_for(rt.local_user_id()).memory
        where: dict[str, str] = {}
        for s in conv["sessions"]:
            logged = service.log_conversation([Turn(role=t["role"], content=t["text"], at=datetime.fromisoformat(t["at"]))
                                               for t in s["turns"]])
            where.update({mid: t["id"] for mid, t in zip(logged.memory_ids, s["turns"], strict=True)})
        questions = [dict(q, lang=conv["lang"], answers=q["evidence"]) for q in conv["questions"]]
        out.append(({"questions": questions}, service, where))
    return out


def store_bilingual(home: Path, embedder: Any) -> list[tuple[dict[str, Any], MemoryService, dict[str, str]]]:
    data = load_bilingual()
    rt = open_runtime(Settings(home=home, user="bilingual", cache_mb=0, log_level="WARNING"), embedder=embedder)
    service = rt.scope_for(rt.local_user_id()).memory
    stored = service.remember_many([MemoryInput(m["text"]) for m in data["memories"]])
    questions = [dict(q, type=q["pair"] if q["answers"] else "none") for q in data["questions"]]
    return [({"questions": questions}, service, {r.memory.id: m["id"] for r, m in zip(stored, data["memories"], strict=True)})]


def score(users: list[tuple[dict[str, Any], MemoryService, dict[str, str]]], split: str) -> dict[str, list[float]]:
    groups: dict[str, list[tuple[float, float]]] = {}
    empty: list[float] = []
    for data, service, where in users:
        for q in data["questions"]:
            if q["split"] != split:
                continue
            asked = datetime.fromisoformat(q["asked_at"]) if q.get("asked_at") else datetime.now(UTC)
            service.clock = lambda asked=asked: asked
            ranked = [where.get(h.id) for h in service.search(q["query"], top_k=10).hits]
            if not q["answers"]:
                empty.append(float(not ranked))
                continue
            relevant = set(q["answers"])
            first = next((i + 1 for i, r in enumerate(ranked) if r in relevant), None)
            row = (len(relevant & set(ranked[:5])) / len(relevant), 1 / first if first else 0.0)
            for group in ("all", q["type"], q["lang"]):
                groups.setdefault(group, []).append(row)
    out = {g: [mean(r for r, _ in rows), mean(m for _, m in rows), len(rows)] for g, rows in sorted(groups.items())}
    if empty:
        out["none: empty"] = [mean(empty), 0.0, len(empty)]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("set", choices=("longconv", "bilingual"))
    p.add_argument("--embedder", default="use", help="JARVIS_EMBEDDER (use, minilm)")
    p.add_argument("--floors", default="", help="relevance floors to try (default: the embedder's)")
    p.add_argument("--boosts", default=str(ranking.DATE_BOOST), help="date boosts to try")
    p.add_argument("--weights", default=str(ranking.KEYWORD_WEIGHT), help="keyword weights to try")
    p.add_argument("--context", choices=("0", "1"), default="1" if context.CONTEXTUAL_TURNS else "0",
                   help="embed conversation turns in their context (1) or alone (0)")
    p.add_argument("--no-stems", action="store_true", help="keyword search on folded words, no stemming")
    p.add_argument("--split", default="dev", choices=("dev", "test"))
    args = p.parse_args(argv)
    if args.split == "test":
        print("note: the test split is held out; report it, never tune on it", file=sys.stderr)
    if args.no_stems:
        keywords.word_stems = lambda word: (word,)  # type: ignore[assignment]
    context.CONTEXTUAL_TURNS = args.context == "1"
    import jarvis_mcp.memory.service as service_module
    service_module.CONTEXTUAL_TURNS = context.CONTEXTUAL_TURNS
    embedder = make_embedder(Settings(embedder=args.embedder))
    own_floor = float(getattr(embedder, "relevance_floor", ranking.DEFAULT_RELEVANCE_FLOOR))
    with tempfile.TemporaryDirectory(prefix="jarvis-rules-") as tmp:
        users = (store_longconv if args.set == "longconv" else store_bilingual)(Path(tmp), embedder)
        print(f"{args.set} {args.split}; embedder {embedder.model_id}; turns in context {args.context}; "
              f"stems {'off' if args.no_stems else 'on'}")
        for floor in [float(f) for f in args.floors.split(",") if f] or [own_floor]:
            embedder.relevance_floor = floor
            for boost in map(float, args.boosts.split(",")):
                for weight in map(float, args.weights.split(",")):
                    ranking.DATE_BOOST, ranking.KEYWORD_WEIGHT = boost, weight
                    cells = score(users, args.split)
                    print(f"floor {floor} boost {boost} weight {weight}: "
                          + "  ".join(f"{g} {r:.3f}/{m:.3f} (n={n})" for g, (r, m, n) in cells.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
