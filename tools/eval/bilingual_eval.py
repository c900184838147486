"""The bilingual set through the real service: recall@5 and MRR per language pair and per type, and what
the relevance floor does (true answers kept, no-answer questions answered with nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval import runner
from eval.sets import load_bilingual

try:
    from jarvis_mcp.memory.ranking import DEFAULT_RELEVANCE_FLOOR
except ImportError:  # a tree from before the relevance floor (the baseline run): no floor at all
    DEFAULT_RELEVANCE_FLOOR = None

FLOORS = tuple(round(0.05 * i, 2) for i in range(2, 19))  # 0.10 .. 0.90: the grid of the floor table


def evaluate(embedder: Any, home: Path, split: str, limit: int | None, path: Path | None = None) -> dict[str, Any]:
    data = load_bilingual(path) if path else load_bilingual()
    questions = [q for q in data["questions"] if split == "all" or q["split"] == split][:limit]
    timer = runner.Timer()
    rt = runner.open_store(home, embedder)
    try:
        memory = runner.service_for(rt, "bilingual")
        where = timer.run("store", lambda: runner.store_memories(memory, data["memories"]))
        rows = []
        for q in questions:
            got = timer.run("search", lambda q=q: runner.ask(memory, q["query"], where))
            row = {"id": q["id"], "pair": q["pair"], "type": q["type"], "query": q["query"], "answers": q["answers"],
                   "ranked": got.ids[:5], "top_score": got.scores[0] if got.scores else None,
                   "returned": len(got.ids), "ms": round(got.ms, 2)}
            if q["answers"]:
                row.update(runner.rank_scores(got.ids, set(q["answers"])))
            rows.append(row)
    finally:
        rt.close()
    floor = timer.run("cosines", lambda: floor_study(embedder, data, questions))
    answered = [r for r in rows if r["answers"]]
    none = [r for r in rows if not r["answers"]]
    return {
        "set": "bilingual", "split": split, "memories": len(data["memories"]), "questions": len(questions),
        "by_pair": runner.group_means(answered, lambda r: r["pair"]),
        "by_type": runner.group_means(answered, lambda r: r["type"]),
        "by_pair_type": runner.group_means(answered, lambda r: f"{r['pair']} {r['type']}"),
        "all": runner.group_means(answered, lambda r: "all").get("all", {}),
        "no_answer": {"n": len(none), "returned_nothing": sum(r["returned"] == 0 for r in none),
                      "answered_emptied": sum(r["returned"] == 0 for r in answered)},
        "floor": floor, "seconds": timer.rounded(), "search_ms_p50": runner.median_ms(rows), "per_question": rows,
    }


def floor_study(embedder: Any, data: dict[str, Any], questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Cosine of each true answer against the best cosine a no-answer question finds: what a floor on
    cosine similarity (ranking.py) keeps and drops, whatever the service's current floor is."""
    ids = [m["id"] for m in data["memories"]]
    sims = runner.cosines(embedder, [q["query"] for q in questions], [m["text"] for m in data["memories"]])
    col = {mid: i for i, mid in enumerate(ids)}
    true_answer, best_wrong, no_answer_best = [], [], []
    for qi, q in enumerate(questions):
        row = sims[qi]
        if q["answers"]:
            true_answer += [float(row[col[a]]) for a in q["answers"]]
            wrong = [float(row[i]) for i, mid in enumerate(ids) if mid not in q["answers"]]
            best_wrong.append(max(wrong))
        else:
            no_answer_best.append(float(row.max()))
    grid = [{"floor": f, "true_answers_kept": round(sum(s >= f for s in true_answer) / max(1, len(true_answer)), 3),
             "no_answer_emptied": round(sum(s < f for s in no_answer_best) / max(1, len(no_answer_best)), 3)}
            for f in FLOORS]
    return {"true_answer": runner.quantiles(true_answer), "best_wrong_for_answered": runner.quantiles(best_wrong),
            "no_answer_best": runner.quantiles(no_answer_best), "grid": grid,
            "service_floor": getattr(embedder, "relevance_floor", DEFAULT_RELEVANCE_FLOOR)}
