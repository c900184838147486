"""Accuracy and macro-F1 of analyze_sentiment's local analyzer on the labelled bilingual set.

    .venv/bin/python tools/sentiment_eval.py            # the test half (report this)
    .venv/bin/python tools/sentiment_eval.py --split dev --errors   # tune on dev only, looking at misses

tools/eval/sentiment/messages.jsonl: one message a line, {id, lang, split, label, tags, text}; tags mark
sarcasm, mixed and negation cases. Spanish line i and English line i say the same thing and share a split,
so nothing learnt from a dev message leaks into the test half through its translation. Also times the
analyzer (median and p95 per message, and the whole set).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from jarvis_mcp.sentiment.lexicon import analyze_text  # noqa: E402

SET = Path(__file__).resolve().parent / "eval" / "sentiment" / "messages.jsonl"
LABELS = ("positive", "neutral", "negative")


def load(split: str) -> list[dict]:
    rows = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def scores(pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """(accuracy, macro-F1) of (gold, predicted) pairs."""
    if not pairs:
        return 0.0, 0.0
    accuracy = sum(g == p for g, p in pairs) / len(pairs)
    f1s = []
    for label in LABELS:
        tp = sum(g == p == label for g, p in pairs)
        fp = sum(p == label != g for g, p in pairs)
        fn = sum(g == label != p for g, p in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return accuracy, sum(f1s) / len(f1s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="test")
    parser.add_argument("--errors", action="store_true", help="list the misclassified messages")
    args = parser.parse_args()
    rows = load(args.split)
    times, results = [], []
    for row in rows:
        started = time.perf_counter()
        results.append(analyze_text(row["text"]))
        times.append((time.perf_counter() - started) * 1000)
    print(f"split={args.split} messages={len(rows)}")
    groups = {"overall": rows, "es": [r for r in rows if r["lang"] == "es"], "en": [r for r in rows if r["lang"] == "en"]}
    for tag in ("sarcasm", "mixed", "negation"):
        groups[f"tag:{tag}"] = [r for r in rows if tag in r["tags"]]
    by_id = {r["id"]: res for r, res in zip(rows, results, strict=True)}
    for name, group in groups.items():
        acc, f1 = scores([(r["label"], by_id[r["id"]].label) for r in group])
        print(f"{name:<13} n={len(group):<4} accuracy={acc:.3f} macro-F1={f1:.3f}")
    detected = sum(by_id[r["id"]].language == r["lang"] for r in rows) / len(rows)
    print(f"language detected correctly: {detected:.3f}")
    ordered = sorted(times)
    print(f"time per message: median {statistics.median(times):.3f} ms, "
          f"p95 {ordered[int(0.95 * (len(ordered) - 1))]:.3f} ms, whole set {sum(times):.1f} ms")
    if args.errors:
        for r in rows:
            res = by_id[r["id"]]
            if res.label != r["label"]:
                print(f"  {r['id']} gold={r['label']} got={res.label} {res.score:+.2f} {res.cues} :: {r['text']}")


if __name__ == "__main__":
    main()
