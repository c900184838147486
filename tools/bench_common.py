"""Helpers shared by bench_memory.py and retrieval_eval.py: synthetic memories, cheap vectors, stats, tables.

Run from the repository root; nothing here is imported by the package.
"""

from __future__ import annotations

import random
import re
import statistics
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# -- synthetic memories ------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """Whitespace-separated vocabulary; '_' joins a multi-word entry ('Buenos_Aires')."""
    return [w.replace("_", " ") for w in text.split()]


FIRST = _words("""Ana Luis Marta Carlos Lucia Jorge Elena Pablo Sofia Diego Carmen Javier Laura Miguel Paula Andres Isabel
Tomas Julia Raul Nora Hugo Irene Oscar Clara Mario Alba Ivan Rosa Victor Emma Liam Olivia Noah Ava Ethan Mia Lucas
Chloe Mason Grace Leo Zoe Owen Ruby Finn Ella Jack Lily Sam Hannah Ben Nina Max Iris Adam Maya Theo Alice Felix
Priya Arjun Wei Mei Kenji Yuki Amir Leila Omar Fatima Kofi Ama Sven Ingrid Piotr Agata Dmitri Olga Marco Giulia
Pierre Camille Hans Greta Sean Aoife Rafael Beatriz Tariq Sana Jonas Freya Mateo Valentina""")
LAST = _words("""Garcia Lopez Martinez Sanchez Perez Gomez Ruiz Diaz Moreno Alvarez Romero Navarro Torres Dominguez Vazquez
Ramos Gil Serrano Blanco Molina Smith Johnson Brown Taylor Wilson Clarke Walker Wright Green Hall Wood Harris Lewis
Young King Baker Turner Hill Moore Cooper Ward Patel Shah Chen Wang Tanaka Sato Kim Park Nguyen Tran Rossi Bianchi
Dubois Laurent Muller Schmidt Novak Kowalski Ivanov Petrov Olsen Hansen Murphy Kelly OBrien Costa Silva Santos
Haddad Mansour Okafor Mensah Lindqvist Berg""")
RELATION = _words("""sister brother mother father cousin aunt uncle niece nephew grandmother grandfather neighbour friend
colleague manager client dentist doctor accountant lawyer landlord teacher coach mentor partner""")
CITY = _words("""Madrid Barcelona Valencia Seville Bilbao Lisbon Porto Paris Lyon Marseille Berlin Munich Hamburg Vienna
Zurich Geneva Milan Rome Naples Florence Venice Amsterdam Rotterdam Brussels Antwerp London Manchester Edinburgh
Dublin Copenhagen Stockholm Oslo Helsinki Prague Warsaw Krakow Budapest Athens Istanbul Cairo Marrakesh Tokyo Kyoto
Osaka Seoul Singapore Bangkok Hanoi Sydney Melbourne Auckland Toronto Montreal Vancouver Boston Chicago Denver
Seattle Austin Miami Mexico Bogota Lima Santiago Buenos_Aires Montevideo""")
COMPANY = _words("""Acme Globex Initech Umbrella Stark Wayne Hooli Pied_Piper Vandelay Soylent Tyrell Cyberdyne Wonka
Oscorp Aperture Massive_Dynamic Nakatomi Gringotts Monarch Vehement Blue_Sun Zorg Duff Krusty Prestige Sterling_Cooper
 Dunder_Mifflin Bluth Gekko Rekall Virtucon""")
PRODUCT = _words("""laptop phone headphones bicycle kettle blender vacuum_cleaner monitor keyboard chair desk sofa mattress
camera tablet watch printer router speaker drone lens tent backpack jacket boots sneakers suitcase stroller
coffee_grinder espresso_machine air_fryer rice_cooker""")
STORE = _words("""Ikea Decathlon Zara Mediamarkt Amazon Fnac Carrefour Mercadona Lidl Aldi Uniqlo Apple Etsy Leroy_Merlin
Primark Sephora Lush Muji Costco Target Walmart""")
FOOD = _words("""sushi paella ramen tacos pizza curry falafel lasagna risotto pho dumplings ceviche tapas gazpacho croissants
pancakes hummus kimchi burritos shakshuka empanadas gnocchi tiramisu churros""")
HOBBY = _words("""climbing running swimming chess guitar piano painting pottery gardening photography cycling yoga
surfing skiing knitting baking birdwatching sailing tennis padel salsa woodworking hiking""")
TOPIC = _words("""budget roadmap hiring migration launch audit renewal onboarding pricing forecast retrospective contract
refactor security_review quarterly_planning offsite interview partnership deadline invoice compliance
tax_return mortgage insurance pension school enrolment vaccination checkup physiotherapy""")
WEEKDAY = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
MONTH = _words("January February March April May June July August September October November December")
AILMENT = _words("""migraine back_pain allergy cold flu sprained_ankle insomnia knee_injury sore_throat high_blood_pressure
asthma gastritis""")
MEDICINE = _words("ibuprofen paracetamol amoxicillin loratadine omeprazole cetirizine vitamin_D iron melatonin")
TAGS = _words("""family work health travel finance home kids hobbies food shopping car school friends sport music books
garden pets admin taxes""")

TEMPLATES: tuple[tuple[str, str], ...] = (
    ("person", "{first} {last} is my {relation}; she lives in {city} and loves {hobby}."),
    ("person", "My {relation} {first} works at {company} as a {topic} lead since {month} {year}."),
    ("person", "{first}'s phone number is +34 6{n3} {n3} {n3}, call after {hour} pm."),
    ("person", "{first} {last} from {company} prefers email over calls and signs as {first_initial}."),
    ("fact", "My passport number ends in {n4} and expires in {month} {year}."),
    ("fact", "The wifi password at the {city} apartment is {word}{n4}."),
    ("fact", "Our {product} warranty from {store} is valid until {month} {year}, receipt #{code}."),
    ("fact", "The {company} account manager is {first} {last}, extension {n3}."),
    ("fact", "Car insurance policy {code} renews on {day} {month}; premium {amount} euros."),
    ("fact", "The parking spot at the office is number {n2} on level -{digit}."),
    ("preference", "I prefer {food} over {food2} for dinner on {weekday}s."),
    ("preference", "I like window seats on flights to {city} and never check luggage."),
    ("preference", "{first} does not eat {food}; order {food2} when we host."),
    ("preference", "I want meetings with {company} scheduled after {hour} am, never on {weekday}."),
    ("preference", "Send me the {topic} summary as a short bullet list, not a slide deck."),
    ("event", "Flight {airline}{n3} to {city} on {day} {month} {year}, departing {hour}:{minute}."),
    ("event", "{first}'s birthday is on {day} {month}; last year we went for {food} in {city}."),
    ("event", "Dentist appointment with Dr. {last} on {weekday} {day} {month} at {hour}:{minute}."),
    ("event", "The {topic} meeting with {company} moved to {weekday} at {hour}:{minute}."),
    ("event", "We spent a week in {city} in {month} {year}; the hotel was {word} Suites."),
    ("event", "Paid {amount} euros for the {product} at {store} on {day} {month}."),
    ("event", "{first} {last} started {hobby} lessons in {month} {year}."),
    ("note", "Idea for the {topic}: ask {first} about the {company} numbers before {weekday}."),
    ("note", "The {product} from {store} makes a rattling noise; return it before {day} {month}."),
    ("note", "Recipe: {food} with {food2} sauce, {n2} minutes in the oven at {n3} degrees."),
    ("note", "Doctor said the {ailment} should improve with {medicine} twice a day for {digit} days."),
    ("note", "Books to read: a novel set in {city} that {first} recommended, and one about {hobby}."),
    ("note", "{company} invoice {code} for {amount} euros is still unpaid."),
    ("task", "Renew the {topic} paperwork before {day} {month} {year}."),
    ("task", "Buy a new {product} for {first}'s birthday, budget {amount} euros."),
    ("task", "Call {first} {last} about the {topic} on {weekday} morning."),
    ("task", "Book a table for {n2} at the {food} place in {city} for {weekday}."),
    ("task", "Pick up {medicine} from the pharmacy for the {ailment}."),
    ("task", "Send {company} the signed {topic} contract, reference {code}."),
    ("conversation", "Can you remind me what {first} said about the {topic} at {company}?"),
    ("conversation", "I think we should go to {city} in {month}; {first} found cheap flights."),
    ("conversation", "Noted: your {relation} {first} prefers {food}, and the dinner is on {weekday}."),
    ("conversation", "I've been feeling tired lately, maybe the {ailment} is back."),
    ("conversation", "How much did we spend on {product}s this year? I think around {amount} euros."),
    ("conversation", "Let's try {hobby} this weekend if the weather in {city} is good."),
    ("conversation", "You have a {topic} call with {first} {last} tomorrow at {hour}:{minute}."),
    ("conversation", "Remember that {first} is allergic to {food2}; she mentioned it in {month}."),
)

AIRLINES = ["IB", "VY", "UX", "BA", "AF", "LH", "KL", "TP", "FR", "U2"]
WORDS = _words("""maple harbor cobalt lantern orchid falcon meadow granite saffron velvet juniper ember pebble quartz
willow""")

QUERY_TEMPLATES = (
    "when is {first}'s birthday",
    "what is the phone number of {first}",
    "flights to {city}",
    "what did I pay for the {product}",
    "dentist appointment",
    "who works at {company}",
    "unpaid invoice from {company}",
    "which food does {first} not eat",
    "what did the doctor say about my {ailment}",
    "insurance policy {code}",
    "restaurant booking in {city}",
    "{topic} meeting next week",
    "trip to {city} last {month}",
    "gift ideas for my {relation}",
    "when do I need to renew the {topic} paperwork",
    "{hobby} lessons",
    "where is my parking spot",
    "wifi password apartment",
    "what does {first} {last} prefer",
    "how much did we spend on a {product} at {store}",
)

_FIELD = re.compile(r"\{(\w+)\}")


def _fill(template: str, rng: random.Random) -> str:
    def pick(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in ("first", "first_initial"):
            v = rng.choice(FIRST)
            return v[0] + "." if name == "first_initial" else v
        if name == "last":
            return rng.choice(LAST)
        if name == "relation":
            return rng.choice(RELATION)
        if name == "city":
            return rng.choice(CITY)
        if name == "company":
            return rng.choice(COMPANY)
        if name == "product":
            return rng.choice(PRODUCT)
        if name == "store":
            return rng.choice(STORE)
        if name in ("food", "food2"):
            return rng.choice(FOOD)
        if name == "hobby":
            return rng.choice(HOBBY)
        if name == "topic":
            return rng.choice(TOPIC)
        if name == "weekday":
            return rng.choice(WEEKDAY)
        if name == "month":
            return rng.choice(MONTH)
        if name == "year":
            return str(rng.randint(2019, 2026))
        if name == "day":
            return str(rng.randint(1, 28))
        if name == "hour":
            return str(rng.randint(7, 20))
        if name == "minute":
            return rng.choice(["00", "15", "30", "45", "05", "50"])
        if name == "amount":
            return f"{rng.randint(12, 4800):,}"
        if name == "code":
            return f"{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}-{rng.randint(1000, 99999)}"
        if name == "n2":
            return str(rng.randint(2, 99))
        if name == "n3":
            return str(rng.randint(100, 999))
        if name == "n4":
            return str(rng.randint(1000, 9999))
        if name == "digit":
            return str(rng.randint(1, 9))
        if name == "airline":
            return rng.choice(AIRLINES)
        if name == "word":
            return rng.choice(WORDS).capitalize()
        if name == "ailment":
            return rng.choice(AILMENT)
        if name == "medicine":
            return rng.choice(MEDICINE)
        raise KeyError(name)

    return _FIELD.sub(pick, template)


@dataclass(frozen=True)
class SyntheticMemory:
    kind: str
    text: str
    tags: tuple[str, ...]
    occurred_at: float


def synthetic_memories(n: int, seed: int, *, start: float = 1_577_836_800.0, span_days: int = 6 * 365,
                       variant: str = "") -> list[SyntheticMemory]:
    """n distinct memories (templates x vocabulary), spread over span_days from start (2020-01-01 UTC).

    When a filling repeats, another template is drawn; past that a date is appended, and as a last resort
    `variant` and a counter, so any size produces distinct texts.
    """
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[SyntheticMemory] = []
    span = span_days * 86_400
    while len(out) < n:
        kind, template = rng.choice(TEMPLATES)
        text = _fill(template, rng)
        for _ in range(4):  # low-variety templates redraw, which also keeps their share realistic
            if text not in seen:
                break
            kind, template = rng.choice(TEMPLATES)
            text = _fill(template, rng)
        if text in seen:
            text = _fill(text + " Noted on {weekday} {day} {month} {year}.", rng)
        if text in seen:
            text = f"{text} ({variant or 'entry'} {len(out)})"
        seen.add(text)
        tags = tuple(rng.sample(TAGS, rng.choice((0, 0, 1, 1, 2))))
        out.append(SyntheticMemory(kind, text, tags, start + rng.random() * span))
    return out


def synthetic_queries(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [_fill(rng.choice(QUERY_TEMPLATES), rng) for _ in range(n)]


# -- cheap vectors -----------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


class HashedVectors:
    """Feature hashing of lower-cased words into `buckets`, then a fixed Gaussian random projection to `dim`,
    L2-normalised. Texts sharing words get similar vectors, like a bag-of-words model; they are NOT in the
    MiniLM space, so they serve latency measurements only, never quality ones."""

    def __init__(self, dim: int, *, buckets: int = 1 << 15, seed: int = 7) -> None:
        self.dim = dim
        self.buckets = buckets
        self.proj = np.random.default_rng(seed).standard_normal((buckets, dim), dtype=np.float32)
        self._bucket: dict[str, int] = {}

    def _ids(self, text: str) -> list[int]:
        ids = []
        for tok in _TOKEN.findall(text.lower()):
            b = self._bucket.get(tok)
            if b is None:
                b = self._bucket[tok] = zlib.crc32(tok.encode()) % self.buckets
            ids.append(b)
        return ids or [0]

    def embed(self, texts: Sequence[str], *, batch: int = 4096) -> np.ndarray:
        out = np.empty((len(texts), self.dim), np.float32)
        for start in range(0, len(texts), batch):
            chunk = [self._ids(t) for t in texts[start : start + batch]]
            lengths = np.fromiter((len(c) for c in chunk), np.int64, len(chunk))
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            flat = np.fromiter((i for c in chunk for i in c), np.int64, int(lengths.sum()))
            summed = np.add.reduceat(self.proj[flat], offsets, axis=0)
            summed /= np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)
            out[start : start + len(chunk)] = summed
        return out


# -- statistics and output ---------------------------------------------------------------------


def summary_ms(samples_s: Iterable[float]) -> dict[str, float]:
    """p50/p95/p99/mean/min/max in milliseconds, from samples in seconds."""
    ms = np.array(list(samples_s), np.float64) * 1000.0
    if ms.size == 0:
        return {}
    return {
        "n": int(ms.size),
        "p50": round(float(np.percentile(ms, 50)), 3),
        "p95": round(float(np.percentile(ms, 95)), 3),
        "p99": round(float(np.percentile(ms, 99)), 3),
        "mean": round(float(ms.mean()), 3),
        "min": round(float(ms.min()), 3),
        "max": round(float(ms.max()), 3),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def load_average() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "n/a"
