"""Dates named in questions: the window each expression names (English and Spanish), and search using it
as a boost, never a filter unless since/until are given."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from test_memory_tools import ok, remember

from jarvis_mcp.memory.dates import time_window

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # a Monday
MADRID = ZoneInfo("Europe/Madrid")


def local(*args: int) -> float:
    return datetime(*args, tzinfo=MADRID).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(("query", "start", "end"), [
    ("what did I do yesterday?", (2026, 12, 6), (2026, 12, 7)),
    ("¿qué hice ayer?", (2026, 12, 6), (2026, 12, 7)),
    ("the day before yesterday", (2026, 12, 5), (2026, 12, 6)),
    ("anteayer", (2026, 12, 5), (2026, 12, 6)),
    ("last week", (2026, 11, 30), (2026, 12, 7)),
    ("la semana pasada", (2026, 11, 30), (2026, 12, 7)),
    ("two weeks ago", (2026, 11, 13), (2026, 11, 27)),
    ("hace dos semanas", (2026, 11, 13), (2026, 11, 27)),
    ("3 days ago", (2026, 12, 3), (2026, 12, 6)),
    ("hace 3 días", (2026, 12, 3), (2026, 12, 6)),
    ("last month", (2026, 11, 1), (2026, 12, 1)),
    ("el mes pasado", (2026, 11, 1), (2026, 12, 1)),
    ("last June", (2026, 6, 1), (2026, 7, 1)),
    ("el junio pasado", (2026, 6, 1), (2026, 7, 1)),
    ("in March", (2026, 3, 1), (2026, 4, 1)),
    ("en marzo", (2026, 3, 1), (2026, 4, 1)),
    ("last December", (2025, 12, 1), (2026, 1, 1)),   # this December is not over: "last" is the one before
    ("en diciembre", (2026, 12, 1), (2026, 12, 8)),    # this one, up to tomorrow
    ("en marzo de 2024", (2024, 3, 1), (2024, 4, 1)),
    ("June 2025", (2025, 6, 1), (2025, 7, 1)),
    ("junio del año pasado", (2025, 6, 1), (2025, 7, 1)),
    ("el año pasado", (2025, 1, 1), (2026, 1, 1)),
    ("last year", (2025, 1, 1), (2026, 1, 1)),
    ("in 2024", (2024, 1, 1), (2025, 1, 1)),
    ("last Friday", (2026, 12, 4), (2026, 12, 5)),
    ("el viernes", (2026, 12, 4), (2026, 12, 5)),
    ("el fin de semana pasado", (2026, 12, 5), (2026, 12, 7)),
    ("last weekend", (2026, 12, 5), (2026, 12, 7)),
])
def test_expressions_name_a_window_in_the_users_time_zone(query: str, start: tuple, end: tuple) -> None:
    window = time_window(query, NOW, "Europe/Madrid")
    assert window is not None
    assert (window.start, window.end) == (local(*start), local(*end))


@pytest.mark.parametrize("query", ["where is my car?", "¿dónde está el coche?", "I may go to the gym",
                                   "the march of the penguins documentary", "una semana tranquila"])
def test_no_date_no_window(query: str) -> None:
    assert time_window(query, NOW, "Europe/Madrid") is None


async def test_search_ranks_memories_of_the_named_time_first_without_filtering(client_for) -> None:
    async with client_for("alice") as c:
        ok(await c.call_tool("set_profile", {"timezone": "Europe/Madrid"}))
        june = (await remember(c, "Dinner with Leo at the Italian restaurant", kind="event",
                               occurred_at="2026-06-12T21:00:00+02:00"))["memory"]["id"]
        march = (await remember(c, "Dinner with Leo and Marta at the Italian restaurant downtown", kind="event",
                                occurred_at="2026-03-20T21:00:00+01:00"))["memory"]["id"]
        for query, first in [("dinner with Leo at the Italian restaurant downtown", march),
                             ("dinner with Leo last June", june),
                             ("¿cena con Leo en junio?", june),
                             ("dinner with Leo in March", march)]:
            out = ok(await c.call_tool("search_memory", {"query": query}))
            ids = [h["id"] for h in out["hits"]]
            assert ids[0] == first, query
            if "june" in query.lower() or "junio" in query.lower():
                assert march in ids  # a boost, not a filter: the other dinner is still there
                assert out["time_window"]["start"].startswith("2026-05-31T22:00")  # June 1st in Madrid
                assert out["hits"][0]["in_time_window"] is True
        # since/until given: they filter, and the words of the question no longer boost anything.
        out = ok(await c.call_tool("search_memory", {"query": "dinner with Leo last June",
                                                     "since": "2026-03-01T00:00:00+01:00",
                                                     "until": "2026-03-31T00:00:00+02:00"}))
        assert [h["id"] for h in out["hits"]] == [march] and out["time_window"] is None


def test_the_window_moves_with_the_clock(runtime) -> None:
    rt = runtime("alice")
    service = rt.scope_for(rt.local_user_id()).memory
    ok_ = service.remember("Went hiking in the Pyrenees", kind="event", occurred_at=datetime(2026, 12, 6, 10, tzinfo=UTC))
    service.remember("Went hiking in the Alps with the whole family", kind="event",
                     occurred_at=datetime(2026, 8, 1, 10, tzinfo=UTC))
    service.clock = lambda: NOW
    assert service.search("hiking yesterday").hits[0].id == ok_.memory.id
    service.clock = lambda: datetime(2026, 8, 2, 12, tzinfo=UTC)
    assert service.search("hiking yesterday").hits[0].id != ok_.memory.id
