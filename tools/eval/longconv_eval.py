"""The long conversations through the real service: each conversation is one user's memory (its sessions
logged turn by turn), each question asked on its own date; evidence-turn recall@5 and MRR per type."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from eval import runner
from eval.sets import LONGCONV, load_longconv


def evaluate(embedder: Any, home: Path, split: str, limit: int | None, folder: Path = LONGCONV) -> dict[str, Any]:
    convs = load_longconv(folder)
    timer = runner.Timer()
    rows: list[dict[str, Any]] = []
    wanted = {c["id"]: [q for q in c["questions"] if split == "all" or q["split"] == split] for c in convs}
    if limit is not None:  # a quick run: the first questions, and only the conversations they need
        budget = limit
        for c in convs:
            wanted[c["id"]], budget = wanted[c["id"]][:budget], max(0, budget - len(wanted[c["id"]]))
    rt = runner.open_store(home, embedder)
    try:
        for conv in (c for c in convs if wanted[c["id"]]):
            memory = runner.service_for(rt, conv["id"])
            where = timer.run("store", lambda conv=conv, memory=memory: runner.store_conversation(memory, conv))
            for q in wanted[conv["id"]]:
                now = datetime.fromisoformat(q["asked_at"])
                got = timer.run("search", lambda q=q, memory=memory, where=where, now=now:
                                runner.ask(memory, q["query"], where, now))
                rows.append({"id": q["id"], "conversation": conv["id"], "lang": conv["lang"], "type": q["type"],
                             "query": q["query"], "answers": q["evidence"], "ranked": got.ids[:5], "ms": round(got.ms, 2),
                             "near@5": near(got.ids[:5], q["evidence"]), **runner.rank_scores(got.ids, set(q["evidence"]))})
    finally:
        rt.close()
    return {
        "set": "longconv", "split": split, "conversations": len(convs),
        "turns": sum(len(s["turns"]) for c in convs for s in c["sessions"]), "questions": len(rows),
        "all": runner.group_means(rows, lambda r: "all").get("all", {}),
        "near@5": round(runner.mean([r["near@5"] for r in rows]), 3),
        "by_type": runner.group_means(rows, lambda r: r["type"]),
        "by_lang": runner.group_means(rows, lambda r: r["lang"]),
        "by_conversation": runner.group_means(rows, lambda r: r["conversation"]),
        "seconds": timer.rounded(), "search_ms_p50": runner.median_ms(rows), "per_question": rows,
    }


def near(top: list[str | None], evidence: list[str]) -> float:
    """Whether an evidence turn or a turn next to one (same session, one position away) is in the top 5:
    how much of the miss is the neighbouring turn, which embedding a turn with its context addresses."""
    def pos(tid: str) -> tuple[str, int]:
        session, turn = tid.split(":t")
        return session, int(turn)
    around = {(s, t + d) for s, t in map(pos, evidence) for d in (-1, 0, 1)}
    return float(any(tid is not None and pos(tid) in around for tid in top))
