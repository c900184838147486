"""Contact files: vCard (2.1, 3.0, 4.0) and CSV in the Google Contacts and Outlook export layouts.

Only reads: each card or row becomes a ContactInput (source 'import'); validation, matching and
de-duplication are the contacts service's job.
"""

from __future__ import annotations

import csv
import io
import quopri
import re
from collections.abc import Iterator
from pathlib import Path

from jarvis_mcp.contacts.rules import ContactInput

Rows = Iterator[tuple[str, ContactInput]]

_LINE = re.compile(r"^(?:[\w-]+\.)?(?P<name>[\w-]+)(?P<params>(?:;[^:]*)?):(?P<value>.*)$", re.DOTALL)
_GOOGLE_MULTI = " ::: "


class ContactFileError(ValueError):
    """The file cannot be read as contacts at all (as opposed to one bad row, which is skipped)."""


def read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # what Outlook writes on Windows


def read_contacts_file(path: Path) -> tuple[int, Rows]:
    """(number of cards or rows, the rows). The format comes from the extension."""
    suffix = path.suffix.lower()
    text = read_text(path)
    if suffix in (".vcf", ".vcard"):
        cards = list(split_vcards(text))
        if not cards and text.strip():
            raise ContactFileError(f"{path.name}: no BEGIN:VCARD ... END:VCARD found")
        return len(cards), (parse_vcard(lines, f"card {i}") for i, lines in enumerate(cards, 1))
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return 0, iter(())
        header = rows[0]
        layout = CsvLayout(header)
        if not layout.recognised:
            raise ContactFileError(
                f"{path.name}: the header names no name, email or phone column; expected a Google Contacts or "
                "Outlook CSV export"
            )
        return len(rows) - 1, (
            (f"row {n}", layout.contact(row)) for n, row in enumerate(rows[1:], 2) if any(c.strip() for c in row)
        )
    raise ContactFileError(f"{path.name}: unknown format; use .vcf (vCard) or .csv (Google or Outlook export)")


# -- vCard ----------------------------------------------------------------------------------------


def _unfold(text: str) -> list[str]:
    lines: list[str] = []
    qp_open = False
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if lines and raw[:1] in (" ", "\t") and not qp_open:
            lines[-1] += raw[1:]
        elif lines and qp_open:
            lines[-1] = lines[-1][:-1] + raw  # quoted-printable soft line break ("=" at the end)
        else:
            lines.append(raw)
        last = lines[-1] if lines else ""
        qp_open = last.endswith("=") and "QUOTED-PRINTABLE" in last.split(":", 1)[0].upper()
    return lines


def split_vcards(text: str) -> Iterator[list[str]]:
    card: list[str] | None = None
    for line in _unfold(text):
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            card = []
        elif upper == "END:VCARD":
            if card is not None:
                yield card
            card = None
        elif card is not None and line.strip():
            card.append(line)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _split(value: str, sep: str) -> list[str]:
    """Split on separators that are not backslash-escaped, then unescape each part."""
    return [_unescape(p) for p in re.split(rf"(?<!\\){re.escape(sep)}", value)]


def parse_vcard(lines: list[str], label: str) -> tuple[str, ContactInput]:
    props: dict[str, list[str]] = {}
    for line in lines:
        m = _LINE.match(line)
        if not m:
            continue
        name, params, value = m["name"].upper(), m["params"].upper(), m["value"]
        if "QUOTED-PRINTABLE" in params:
            charset = re.search(r"CHARSET=([\w-]+)", params)
            raw = quopri.decodestring(value.encode("latin-1", errors="replace"))
            try:
                value = raw.decode(charset.group(1) if charset else "utf-8")
            except (LookupError, UnicodeDecodeError):
                value = raw.decode("cp1252", errors="replace")
        props.setdefault(name, []).append(value)

    def first(key: str) -> str | None:
        values = props.get(key)
        return _unescape(values[0]).strip() or None if values else None

    name = first("FN")
    if not name and props.get("N"):
        family, given, additional, prefix, suffix = (_split(props["N"][0], ";") + [""] * 5)[:5]
        name = " ".join(p.strip() for p in (prefix, given, additional, family, suffix) if p.strip()) or None
    org = _split(props["ORG"][0], ";")[0].strip() or None if props.get("ORG") else None
    tags = [t.strip() for v in props.get("CATEGORIES", []) for t in _split(v, ",") if t.strip()]
    return label, ContactInput(
        name=name,
        emails=[_unescape(v).strip() for v in props.get("EMAIL", [])],
        phones=[_unescape(v).strip().removeprefix("tel:") for v in props.get("TEL", [])],
        company=org,
        role=first("TITLE") or first("ROLE"),
        tags=tags,
        notes=first("NOTE"),
        source="import",
        source_id=first("UID"),
    )


# -- CSV ------------------------------------------------------------------------------------------


class CsvLayout:
    """Column roles found by header name: Google's ('E-mail 1 - Value', 'Organization Name', 'Labels'),
    its older export ('Given Name', 'Group Membership') and Outlook's ('E-mail Address', 'Mobile Phone')."""

    def __init__(self, header: list[str]) -> None:
        h = [c.strip().lstrip("\ufeff").lower() for c in header]
        self.width = len(h)

        def col(*names: str) -> int | None:
            for name in names:
                if name in h:
                    return h.index(name)
            return None

        self.full = col("name", "display name", "full name")
        self.file_as = col("file as")
        self.first = col("first name", "given name")
        self.middle = col("middle name", "additional name")
        self.last = col("last name", "family name")
        self.company = col("organization name", "organization 1 - name", "company")
        self.role = col("organization title", "organization 1 - title", "job title")
        self.notes = col("notes")
        self.tags = col("labels", "group membership", "categories")
        self.emails = [i for i, c in enumerate(h) if (c.startswith("e-mail") or c.startswith("email"))
                       and (c.endswith("value") or c.endswith("address"))]
        self.phones = [i for i, c in enumerate(h) if ("phone" in c or c in ("mobile", "pager"))
                       and "phonetic" not in c and not c.endswith(("label", "type"))]
        self.recognised = any(x is not None for x in (self.full, self.first, self.last)) or bool(self.emails or self.phones)

    def contact(self, row: list[str]) -> ContactInput:
        def get(i: int | None) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        def multi(i: int) -> list[str]:
            return [v.strip() for v in get(i).split(_GOOGLE_MULTI) if v.strip()]

        name = (get(self.full) or " ".join(p for p in (get(self.first), get(self.middle), get(self.last)) if p)
                or get(self.file_as))
        raw_tags = get(self.tags)
        sep = _GOOGLE_MULTI if _GOOGLE_MULTI in raw_tags else ";" if ";" in raw_tags else ","
        tags = []
        for tag in raw_tags.split(sep):
            tag = tag.strip().lstrip("*").strip()
            if tag and tag.lower() not in ("mycontacts", "my contacts"):
                tags.append(tag)
        return ContactInput(
            name=name or None,
            emails=[e for i in self.emails for e in multi(i)],
            phones=[p for i in self.phones for p in multi(i)],
            company=get(self.company) or None,
            role=get(self.role) or None,
            tags=tags,
            notes=get(self.notes) or None,
            source="import",
        )
