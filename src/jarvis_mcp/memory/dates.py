"""Dates named in a question ("last June", "hace dos semanas", "ayer") as a time window.

The window is relative to a reference time (now, or the date an evaluation asks from) in the user's time
zone, and search uses it as a boost, not a filter (memory/ranking.py): "what did I buy in March?" ranks
March's memories first and still shows a better answer from April. Only since/until, given by the model,
filter. Text is folded first (case, accents), so "el año pasado" and "el ano pasado" read the same.

Recognised, in English and Spanish: today, yesterday, the day before yesterday; N days / weeks / months /
years ago (digits, or number words up to twelve, "a", "a couple of"); this / last week, month, year,
weekend; a weekday ("last Monday", "el lunes pasado", "on Friday"); a month ("in March", "last June",
"el junio pasado", "en marzo de 2024", "March 2024"); a year ("in 2024", "en 2023"). The first match wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from jarvis_mcp.text import fold, zone


@dataclass(frozen=True)
class TimeWindow:
    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive
    phrase: str  # the words that named it, as folded

    def holds(self, ts: float) -> bool:
        return self.start <= ts < self.end


_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "agosto": 8,
    "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
}
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6,
}
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "a few": 3, "several": 3,
    "un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "un par de": 2, "unos": 3, "unas": 3,
    "unos pocos": 3, "unas pocas": 3,
}
_UNITS = {
    "day": "day", "days": "day", "dia": "day", "dias": "day",
    "week": "week", "weeks": "week", "semana": "week", "semanas": "week",
    "month": "month", "months": "month", "mes": "month", "meses": "month",
    "year": "year", "years": "year", "ano": "year", "anos": "year",
}


def _alt(words: object) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))  # type: ignore[call-overload]


_NUM = rf"(\d{{1,3}}|{_alt(_NUMBERS)})"
_UNIT = rf"({_alt(_UNITS)})"
_MONTH = rf"({_alt(_MONTHS)})"
_WEEKDAY = rf"({_alt(_WEEKDAYS)})"
_YEAR = r"((?:19|20)\d\d)"


def _day_start(d: date, now: datetime) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=now.tzinfo)


def _days(now: datetime, first: date, days: int) -> tuple[datetime, datetime]:
    return _day_start(first, now), _day_start(first + timedelta(days=days), now)


def _month(now: datetime, year: int, month: int) -> tuple[datetime, datetime]:
    nxt = (year + month // 12, month % 12 + 1)
    return datetime(year, month, 1, tzinfo=now.tzinfo), datetime(nxt[0], nxt[1], 1, tzinfo=now.tzinfo)


def _shift_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1)


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word]


def _ago(now: datetime, m: re.Match[str], before: str) -> tuple[datetime, datetime]:
    n, unit = _number(m["n"] or m["n2"]), _UNITS[m["unit"] or m["unit2"]]
    today = now.date()
    if unit == "day":
        return _days(now, today - timedelta(days=n + 1), 3)  # the day, and one either side
    if unit == "week":  # the week it names, and half a week either side
        return _days(now, today - timedelta(days=7 * n + 10), 14)
    if unit == "month":  # the month it names, and one either side
        return _day_start(_shift_months(today, -n - 1), now), _day_start(_shift_months(today, -n + 2), now)
    return datetime(today.year - n, 1, 1, tzinfo=now.tzinfo), datetime(today.year - n + 1, 1, 1, tzinfo=now.tzinfo)


def _relative(now: datetime, m: re.Match[str], before: str) -> tuple[datetime, datetime]:
    unit, last = _UNITS.get(m["unit"], m["unit"]), bool(m["last"] or m["last2"])
    today = now.date()
    if unit in ("week", "weekend", "fin de semana"):
        monday = today - timedelta(days=today.weekday() + (7 if last else 0))
        return _days(now, monday + timedelta(days=5), 2) if unit != "week" else _days(now, monday, 7)
    if unit == "month":
        first = _shift_months(today, -1 if last else 0)
        return _month(now, first.year, first.month)
    year = today.year - (1 if last else 0)
    return datetime(year, 1, 1, tzinfo=now.tzinfo), datetime(year + 1, 1, 1, tzinfo=now.tzinfo)


def _weekday(now: datetime, m: re.Match[str], before: str) -> tuple[datetime, datetime]:
    today = now.date()
    back = (today.weekday() - _WEEKDAYS[m["wd"]]) % 7 or 7  # the most recent one before today
    return _days(now, today - timedelta(days=back), 1)


def _named_month(now: datetime, m: re.Match[str], before: str) -> tuple[datetime, datetime]:
    month, today = _MONTHS[m["month"]], now.date()
    if m["year"]:
        return _month(now, int(m["year"]), month)
    if m["lastyear"]:
        return _month(now, today.year - 1, month)
    last = bool(m["last2"] or re.search(r"\b(last|past|previous)\s+$", before))
    # "in March": the most recent March, this one included; "last June": the most recent one before this month.
    this_year = month < today.month or (month == today.month and not last)
    return _month(now, today.year if this_year else today.year - 1, month)


def _year(now: datetime, m: re.Match[str], before: str) -> tuple[datetime, datetime]:
    y = int(m["y"])
    return datetime(y, 1, 1, tzinfo=now.tzinfo), datetime(y + 1, 1, 1, tzinfo=now.tzinfo)


def _fixed(days_back: int) -> Builder:
    return lambda now, m, before: _days(now, now.date() - timedelta(days=days_back), 1)


def _named(group: str, pattern: str) -> str:
    return pattern.replace("(", f"(?P<{group}>", 1)


Builder = Callable[[datetime, re.Match[str], str], tuple[datetime, datetime]]
_PATTERNS: list[tuple[re.Pattern[str], Builder]] = [
    (re.compile(r"\b(the day before yesterday|anteayer|antier|antes de ayer)\b"), _fixed(2)),
    (re.compile(r"\b(yesterday|ayer)\b"), _fixed(1)),
    (re.compile(r"\b(today|tonight|this morning|hoy|esta manana|esta tarde|esta noche)\b"), _fixed(0)),
    (re.compile(rf"\b(?:hace\s+{_named('n', _NUM)}\s+{_named('unit', _UNIT)}"
                rf"|{_named('n2', _NUM)}\s+{_named('unit2', _UNIT)}\s+ago)\b"), _ago),
    (re.compile(rf"\b{_named('month', _MONTH)}(?:\s+(?:de\s+|of\s+)?{_named('year', _YEAR)})?"
                r"(?P<last2>\s+pasado)?(?P<lastyear>\s+(?:del|de)\s+ano\s+pasado|\s+of\s+last\s+year)?\b"),
     _named_month),
    (re.compile(rf"\b{_named('wd', _WEEKDAY)}\b"), _weekday),
    (re.compile(r"\b(?:(?P<last>last|past|previous)\s+|(?:this|este|esta|el|la)\s+)"
                r"(?P<unit>week|weekend|month|year|semana|fin de semana|mes|ano)(?P<last2>\s+pasad[oa])?\b"),
     _relative),
    (re.compile(rf"\b(?:in|en|during|durante|del|de)\s+{_named('y', _YEAR)}\b"), _year),
]
# "may" and "march" are a verb or a noun more often than a month: they name one only after these words,
# or with a year.
_WORDS_TOO = frozenset({"may", "march"})
_MONTH_CUE = re.compile(r"\b(in|last|past|previous|during|of|since|early|late|mid|this|next)\s+$")


def time_window(query: str, now: datetime, tz_name: str | None) -> TimeWindow | None:
    """The window a query's first date expression names, or None. `now` is read in the user's zone."""
    text = fold(query)
    local = now.astimezone(zone(tz_name))
    for pattern, build in _PATTERNS:
        for m in pattern.finditer(text):
            before = text[: m.start()]
            if build is _named_month and m["month"] in _WORDS_TOO and not m["year"] and not _MONTH_CUE.search(before):
                continue
            start, end = build(local, m, before)
            # Nothing after today has happened yet: the window stops at the end of today.
            end = min(end, max(start + timedelta(days=1), _day_start(local.date() + timedelta(days=1), local)))
            return TimeWindow(start.timestamp(), end.timestamp(), m.group(0).strip())
    return None
