"""Generate the long-conversation set: tools/eval/longconv/*.json (deterministic: same seed, same files).

    .venv/bin/python tools/eval/make_longconv.py            # rewrites the committed files
    .venv/bin/python tools/eval/make_longconv.py --check    # exit 1 if the committed files differ

Each conversation is one person talking to their assistant over ~9 months: 26 sessions, 300+ turns. The
person tells the storylines of tools/eval/longconv_stories.py (the car, health, the pet, a trip, work,
family, home, money, a hobby, a friend), episode by episode in different sessions, between talk about the
same people and topics that answers nothing. Recurring episodes (the vet, the garage, dinners at the
sister's...) come back with new details, so only the date tells them apart. Questions are asked two days
after the last session, labelled with the turns that hold the answer:
  single-hop: one turn; multi-hop: turns of two sessions or more; temporal: one occurrence of a recurring
  episode, named by when it happened ("hace dos semanas", "in March", "last month").
Split: dev and test alternate within each conversation and type.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from longconv_stories import BYES, FILLER, GREETINGS, REPLIES, STORIES  # noqa: E402

OUT = Path(__file__).resolve().parent / "longconv"
SEED = 11
SESSIONS = 26
TURNS_PER_SESSION = 13

CASTS = [
    {"id": "es-lucia", "lang": "es", "user": "Lucía", "partner": "Javier", "sister": "Marta", "friend": "Nuria",
     "friend2": "Álvaro", "boss": "Ramón", "pet": "Coco", "car": "Seat León", "start": "2024-09-02"},
    {"id": "es-carlos", "lang": "es", "user": "Carlos", "partner": "Elena", "sister": "Paula", "friend": "Diego",
     "friend2": "Irene", "boss": "Teresa", "pet": "Nala", "car": "Renault Clio", "start": "2025-01-13"},
    {"id": "es-ana", "lang": "es", "user": "Ana", "partner": "Miguel", "sister": "Rocío", "friend": "Laura",
     "friend2": "Sergio", "boss": "Julián", "pet": "Toby", "car": "Toyota Corolla", "start": "2025-03-03"},
    {"id": "en-emma", "lang": "en", "user": "Emma", "partner": "James", "sister": "Sophie", "friend": "Olivia",
     "friend2": "Tom", "boss": "Richard", "pet": "Biscuit", "car": "Ford Focus", "start": "2024-10-07"},
    {"id": "en-daniel", "lang": "en", "user": "Daniel", "partner": "Priya", "sister": "Hannah", "friend": "Marcus",
     "friend2": "Chloe", "boss": "Karen", "pet": "Pepper", "car": "VW Golf", "start": "2025-02-03"},
    {"id": "en-grace", "lang": "en", "user": "Grace", "partner": "Owen", "sister": "Lily", "friend": "Ben",
     "friend2": "Ruth", "boss": "Alan", "pet": "Milo", "car": "Honda Civic", "start": "2024-06-03"},
]
OCCURRENCES = 3  # times a recurring episode is told
MONTHS = {"es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
                 "noviembre", "diciembre"],
          "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December"]}
NUMBER = {"es": {2: "dos", 3: "tres"}, "en": {2: "two", 3: "three"}}
_SLOT = re.compile(r"\{(\w+)\}")


def session_dates(rng: random.Random, start: date) -> list[date]:
    """~9 months: wide gaps first, then a session every 3-5 days over the last six weeks (so "two weeks
    ago" has something to point at)."""
    days, d = [], start
    for i in range(SESSIONS):
        days.append(d)
        d += timedelta(days=rng.randint(3, 5) if i >= SESSIONS - 10 else rng.randint(9, 16))
    return days


def fill(text: str, slots: dict[str, str]) -> str:
    return _SLOT.sub(lambda m: slots[m[1]], text)


def occurrence_slots(story: dict[str, Any], base: dict[str, int], k: int) -> dict[str, str]:
    """Values of one occurrence: the storyline's draw, shifted by k (a recurring episode's k-th telling
    gets other values); paired keys (part_es / part_en) share their index."""
    out = {}
    for key, values in story["values"].items():
        stem = re.sub(r"_(es|en)$", "", key)
        out[key] = values[(base[stem] + k) % len(values)]
    return out


def plan_events(rng: random.Random, lang: str) -> list[dict[str, Any]]:
    """Every episode occurrence of every storyline, placed in a session: a storyline's events in order,
    each in a later session than the one before."""
    events = []
    for name, story in STORIES.items():
        base = {re.sub(r"_(es|en)$", "", k): rng.randrange(100) for k in story["values"]}
        seq = []
        for ep in story["episodes"]:
            n = OCCURRENCES if ep in story["recurring"] else 1
            seq += [(ep, k) for k in range(n)]
        sessions = sorted(rng.sample(range(1, SESSIONS), len(seq)))
        for (ep, k), s in zip(seq, sessions, strict=True):
            events.append({"story": name, "episode": ep, "k": k, "session": s,
                           "slots": occurrence_slots(story, base, k), "lines": story["episodes"][ep][lang]})
    return events


def build(cast: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    lang = cast["lang"]
    dates = session_dates(rng, date.fromisoformat(cast["start"]))
    events = plan_events(rng, lang)
    names = {k: v for k, v in cast.items() if isinstance(v, str)}
    sessions, evidence = [], {}
    fillers = FILLER[lang][:]
    for si, day in enumerate(dates):
        sid = f"s{si + 1:02d}"
        clock = datetime.combine(day, time(rng.randint(8, 20), rng.choice((0, 15, 30, 45))))
        lines: list[tuple[str, str, tuple | None]] = [("user", rng.choice(GREETINGS[lang][0]), None),
                                                        ("assistant", rng.choice(GREETINGS[lang][1]), None)]
        todo = [e for e in events if e["session"] == si]
        blocks = [[(("user" if ln.startswith("U") else "assistant"), fill(ln.split(": ", 1)[1], {**names, **e["slots"]}),
                    (e["story"], e["episode"], e["k"]) if ln.startswith("U*") else None) for ln in e["lines"]] for e in todo]
        filler_pairs = max(1, (TURNS_PER_SESSION - 4 - sum(len(b) for b in blocks)) // 2)
        for _ in range(filler_pairs):
            if not fillers:
                fillers = FILLER[lang][:]
            text, reply = fillers.pop(rng.randrange(len(fillers)))
            blocks.append([("user", fill(text, names), None), ("assistant", fill(reply, names), None)])
        for b in blocks:  # the assistant answers every block's last word
            if b[-1][0] == "user":
                b.append(("assistant", rng.choice(REPLIES[lang]), None))
        rng.shuffle(blocks)
        for b in blocks:
            lines += b
        lines += [("user", rng.choice(BYES[lang][0]), None), ("assistant", rng.choice(BYES[lang][1]), None)]
        turns = []
        for ti, (role, text, ev) in enumerate(lines):
            tid = f"{sid}:t{ti + 1:02d}"
            at = clock + timedelta(minutes=ti)
            turns.append({"id": tid, "role": role, "speaker": cast["user"] if role == "user" else "assistant",
                          "at": at.isoformat() + "+00:00", "text": text})
            if ev:
                evidence[ev] = (tid, at)
        sessions.append({"id": sid, "date": day.isoformat(), "turns": turns})
    asked = datetime.combine(dates[-1] + timedelta(days=2), time(12, 0))
    questions = make_questions(cast, evidence, asked)
    return {"id": cast["id"], "title": f"{cast['user']} and the assistant", "lang": lang,
            "cast": {k: v for k, v in cast.items() if k not in ("id", "lang", "start")},
            "sessions": sessions, "questions": questions}


def when(lang: str, said: date, asked: date, others: list[date]) -> str | None:
    """A natural way to name `said` from `asked` that no other telling of the episode also fits."""
    def fits(d: date, phrase: str) -> bool:
        days = (asked - d).days
        if phrase == "weeks2":
            return 11 <= days <= 17
        if phrase == "weeks3":
            return 18 <= days <= 24
        if phrase == "lastmonth":
            first = asked.replace(day=1)
            prev = (first - timedelta(days=1)).replace(day=1)
            return prev <= d < first
        return d.month == said.month and 0 < (asked - d).days < 330
    days = (asked - said).days
    candidates = (["weeks2"] if 12 <= days <= 16 else []) + (["weeks3"] if 19 <= days <= 23 else []) + ["lastmonth", "month"]
    for phrase in candidates:
        if phrase == "month" and said.month == asked.month:
            continue
        if fits(said, phrase) and not any(fits(o, phrase) for o in others):
            if phrase == "weeks2" or phrase == "weeks3":
                n = 2 if phrase == "weeks2" else 3
                return f"hace {NUMBER['es'][n]} semanas" if lang == "es" else f"{NUMBER['en'][n]} weeks ago"
            if phrase == "lastmonth":
                return "el mes pasado" if lang == "es" else "last month"
            return f"en {MONTHS['es'][said.month - 1]}" if lang == "es" else f"in {MONTHS['en'][said.month - 1]}"
    return None


def make_questions(cast: dict[str, Any], evidence: dict[tuple, tuple[str, datetime]], asked: datetime) -> list[dict]:
    lang, out, count = cast["lang"], [], {}
    names = {k: v for k, v in cast.items() if isinstance(v, str)}

    def add(kind: str, text: str, turns: list[str]) -> None:
        split = "dev" if count.get(kind, 0) % 2 == 0 else "test"
        count[kind] = count.get(kind, 0) + 1
        out.append({"id": f"{cast['id']}-q{len(out) + 1:02d}", "type": kind, "query": text, "evidence": turns,
                    "asked_at": asked.isoformat() + "+00:00", "split": split})

    for name, story in STORIES.items():
        for q in story["questions"]:
            if q["type"] != "temporal":
                refs = [(name, *(r.split("#") + ["0"])[:2]) for r in q["ev"]]
                add(q["type"], fill(q[lang], names), [evidence[(s, ep, int(k))][0] for s, ep, k in refs])
                continue
            ep = q["ev"][0]
            told = [evidence[(name, ep, k)] for k in range(OCCURRENCES)]
            for k, (tid, at) in enumerate(told):
                others = [t.date() for j, (_, t) in enumerate(told) if j != k]
                phrase = when(lang, at.date(), asked.date(), others)
                if phrase:
                    add("temporal", fill(q[lang], {**names, "when": phrase}), [tid])
    return out


def dump(conv: dict[str, Any]) -> str:
    """Compact but diffable: one turn or question per line."""
    head = {k: v for k, v in conv.items() if k not in ("sessions", "questions")}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    lines.append('  "sessions": [')
    for si, s in enumerate(conv["sessions"]):
        lines.append(f'    {{"id": "{s["id"]}", "date": "{s["date"]}", "turns": [')
        lines += [f"      {json.dumps(t, ensure_ascii=False)}" + ("," if i < len(s["turns"]) - 1 else "")
                  for i, t in enumerate(s["turns"])]
        lines.append("    ]}" + ("," if si < len(conv["sessions"]) - 1 else ""))
    lines.append("  ],")
    lines.append('  "questions": [')
    lines += [f"    {json.dumps(q, ensure_ascii=False)}" + ("," if i < len(conv["questions"]) - 1 else "")
              for i, q in enumerate(conv["questions"])]
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    rng = random.Random(SEED)
    files = {f"{c['id']}.json": dump(build(c, rng)) for c in CASTS}
    if args.check:
        stale = [n for n, text in files.items() if not (args.out / n).exists() or (args.out / n).read_text(encoding="utf-8") != text]
        print("up to date" if not stale else f"differs: {', '.join(stale)}")
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for n, text in files.items():
        (args.out / n).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
