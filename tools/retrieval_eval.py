"""Retrieval quality of search_memory on the labelled sets kept in tools/eval/, one or more embedders side
by side.

    .venv/bin/python tools/retrieval_eval.py                          # bilingual + long conversations, test split
    .venv/bin/python tools/retrieval_eval.py --split dev              # the split you may tune on
    .venv/bin/python tools/retrieval_eval.py --embedder onnx,e5 --out results.json
    .venv/bin/python tools/retrieval_eval.py --limit 20               # a quick look
    .venv/bin/python tools/retrieval_eval.py --set conversations --distractors 2000 --details   # the first set

Each set is stored through the real MemoryService in a fresh SQLite store per embedder (the bilingual
memories with remember_many, each session of a long conversation with log_conversation: speaker, date
and position on every turn) and each question is asked through MemoryService.search, the ranking,
keyword search, date boost and relevance floor of `search_memory` (temporal questions with the service's
clock set to the question's date). recall@5: share of a question's answers in the first five results;
MRR: 1/rank of the first answer within ten (0 if none). The held-out `test` split is the default;
tune only on `--split dev`. See tools/README.md (retrieval_eval) and tools/eval/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_common import load_average, markdown_table
from eval import bilingual_eval, conversations_eval, longconv_eval, runner

from jarvis_mcp.config import Settings

SETS = ("bilingual", "longconv", "conversations")


def run_one(name: str, set_name: str, args: argparse.Namespace) -> dict[str, Any]:
    embedder = runner.load_embedder(name)
    with tempfile.TemporaryDirectory(prefix="jarvis-eval-") as tmp:
        home = Path(tmp)
        if set_name == "bilingual":
            out = bilingual_eval.evaluate(embedder, home, args.split, args.limit)
        elif set_name == "longconv":
            out = longconv_eval.evaluate(embedder, home, args.split, args.limit)
        else:
            out = conversations_eval.run(embedder, home, args.distractors)
    return {**out, "embedder": name, "model_id": embedder.model_id}


def side_by_side(results: list[dict[str, Any]], key: str, title: str) -> str:
    """One row per group, recall@5 and MRR of every embedder next to each other."""
    groups = list(dict.fromkeys(g for r in results for g in r[key]))
    header = [title, "n", *[f"{r['embedder']} {m}" for r in results for m in ("recall@5", "MRR")]]
    rows = [(g, results[0][key].get(g, {}).get("n", 0),
             *[f"{r[key].get(g, {}).get(m, 0):.3f}" for r in results for m in ("recall@5", "mrr")]) for g in groups]
    return markdown_table(header, rows)


def report_bilingual(results: list[dict[str, Any]]) -> str:
    r0 = results[0]
    lines = [f"### Bilingual set: {r0['memories']} memories, {r0['questions']} questions (split {r0['split']})\n"]
    for r in results:
        r["overall"] = {"all": r["all"]}
    lines += [side_by_side(results, "overall", "questions"), "", side_by_side(results, "by_pair", "language pair"), "",
              side_by_side(results, "by_type", "type"), "", side_by_side(results, "by_pair_type", "pair and type"), ""]
    rows = []
    for r in results:
        f, na = r["floor"], r["no_answer"]
        for label, q in (("true answers", f["true_answer"]), ("best wrong memory, answered questions",
                                                               f["best_wrong_for_answered"]),
                         ("best memory, no-answer questions", f["no_answer_best"])):
            rows.append((r["embedder"], label, q.get("n", 0), *[q.get(f"p{p}", "-") for p in (0, 10, 25, 50, 75, 90, 100)]))
        lines.append(f"{r['embedder']}: service floor {f['service_floor']}; no-answer questions answered with "
                     f"nothing {na['returned_nothing']}/{na['n']}; answerable questions emptied by the floor "
                     f"{na['answered_emptied']}.  ")
    lines += ["", "Cosine similarity (the floor's measure), distribution:\n",
              markdown_table(["embedder", "cosine of", "n", "min", "p10", "p25", "p50", "p75", "p90", "max"], rows), ""]
    grid = [(g["floor"], *[f"{r['floor']['grid'][i]['true_answers_kept']:.2f} / {r['floor']['grid'][i]['no_answer_emptied']:.2f}"
                           for r in results]) for i, g in enumerate(r0["floor"]["grid"])]
    lines += ["A cosine floor at f: share of true answers kept / share of no-answer questions left empty:\n",
              markdown_table(["floor", *[r["embedder"] for r in results]], grid)]
    return "\n".join(lines)


def report_longconv(results: list[dict[str, Any]]) -> str:
    r0 = results[0]
    lines = [f"### Long conversations: {r0['conversations']} conversations, {r0['turns']} turns, "
             f"{r0['questions']} questions (split {r0['split']})\n"]
    for r in results:
        r["overall"] = {"all": r["all"]}
    lines += [side_by_side(results, "overall", "questions"), "", side_by_side(results, "by_type", "type"), "",
              side_by_side(results, "by_lang", "language"), "", side_by_side(results, "by_conversation", "conversation"), "",
              "An evidence turn or its neighbour (the turn before or after) in the top 5: "
              + "; ".join(f"{r['embedder']} {r['near@5']:.3f}" for r in results) + "."]
    return "\n".join(lines)


def details(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        for q in r.get("per_question", []):
            if "first_rank" in q:
                rows.append((r["embedder"], q["id"], q.get("pair", q.get("type")), q["query"][:70], q["first_rank"] or "-"))
    return markdown_table(["embedder", "id", "group", "query", "first answer rank"], rows)


def tree_state() -> str:
    """Which code was measured: the commit, and whether src/ had uncommitted changes."""
    import jarvis_mcp

    where = Path(jarvis_mcp.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=where, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"{where} (no git)"
    return f"{where} at {head or '?'}{' with uncommitted changes' if dirty else ''}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", default="bilingual,longconv", help=f"comma-separated, of {', '.join(SETS)}")
    p.add_argument("--embedder", default=Settings.model_fields["embedder"].default,
                   help="comma-separated JARVIS_EMBEDDER values, evaluated side by side")
    p.add_argument("--split", choices=("test", "dev", "all"), default="test",
                   help="test: held out, never tune on it; dev: the split to tune on")
    p.add_argument("--limit", type=int, help="at most this many questions per set (a quick run)")
    p.add_argument("--distractors", type=int, default=0, help="--set conversations: synthetic memories stored first")
    p.add_argument("--details", action="store_true", help="also print the rank of the first answer per question")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    logging.getLogger("jarvis_mcp").setLevel(logging.WARNING)
    sets = [s.strip() for s in args.set.split(",") if s.strip()]
    if bad := [s for s in sets if s not in SETS]:
        p.error(f"--set: unknown {bad[0]!r}; use {', '.join(SETS)}")
    names = [e.strip() for e in args.embedder.split(",") if e.strip()]
    command = " ".join([".venv/bin/python", "tools/retrieval_eval.py", *(argv if argv is not None else sys.argv[1:])])
    tree = tree_state()
    print(f"Command: `{command}`  \nCode: {tree}  \nLoad average: {load_average()}\n")
    everything: dict[str, Any] = {"command": command, "code": tree, "load_average": load_average(), "sets": {}}
    for set_name in sets:
        results = [run_one(name, set_name, args) for name in names]
        everything["sets"][set_name] = results
        if set_name == "bilingual":
            print(report_bilingual(results))
        elif set_name == "longconv":
            print(report_longconv(results))
        else:
            for r in results:
                print(f"### First set (resources/eval/conversations.json), embedder {r['embedder']}\n")
                print(conversations_eval.report(r))
        if set_name != "conversations":
            print("\nSeconds: " + "; ".join(f"{r['embedder']}: {r.get('seconds', {})}, search p50 {r.get('search_ms_p50', '-')} ms"
                                           for r in results) + "\n")
        if args.details:
            print(conversations_eval.details(results[0]["per_question"]) if set_name == "conversations" else details(results))
            print()
    if args.out:
        args.out.write_text(json.dumps(everything, indent=2, ensure_ascii=False, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
