"""Import from real .vcf / .csv files made here: Google and Outlook CSV layouts, vCard 2.1/3.0/4.0,
summaries with reasons, and no duplicates on re-import."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from jarvis_mcp import cli
from jarvis_mcp.contacts.files import ContactFileError, read_contacts_file
from jarvis_mcp.contacts.service import ContactService

GOOGLE_HEADER = [
    "First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name", "Phonetic Last Name",
    "Name Prefix", "Name Suffix", "Nickname", "File As", "Organization Name", "Organization Title",
    "Organization Department", "Birthday", "Notes", "Photo", "Labels", "E-mail 1 - Label", "E-mail 1 - Value",
    "E-mail 2 - Label", "E-mail 2 - Value", "Phone 1 - Label", "Phone 1 - Value", "Phone 2 - Label", "Phone 2 - Value",
]
GOOGLE_OLD_HEADER = [
    "Name", "Given Name", "Additional Name", "Family Name", "Yomi Name", "Nickname", "Notes", "Group Membership",
    "E-mail 1 - Type", "E-mail 1 - Value", "Phone 1 - Type", "Phone 1 - Value", "Organization 1 - Type",
    "Organization 1 - Name", "Organization 1 - Title",
]
OUTLOOK_HEADER = [
    "First Name", "Middle Name", "Last Name", "Title", "Suffix", "Company", "Department", "Job Title",
    "Business Street", "Business City", "Business Fax", "Business Phone", "Home Phone", "Mobile Phone",
    "Categories", "E-mail Address", "E-mail Type", "E-mail Display Name", "E-mail 2 Address", "Notes",
]


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow([row.get(col, "") for col in header])
    return path


def google_csv(path: Path) -> Path:
    return write_csv(path, GOOGLE_HEADER, [
        {"First Name": "María", "Last Name": "García", "Organization Name": "Acme", "Organization Title": "CFO",
         "Notes": "Met at the fintech meetup", "Labels": "* myContacts ::: Clients ::: VIP",
         "E-mail 1 - Label": "* Work", "E-mail 1 - Value": "maria@acme.com ::: m.garcia@gmail.com",
         "Phone 1 - Label": "Mobile", "Phone 1 - Value": "+34 612 345 678"},
        {"First Name": "John", "Last Name": "Smith", "Phone 1 - Value": "+1 415-555-2671", "Labels": "* myContacts"},
        {"Organization Name": "Clínica Sol", "Phone 1 - Value": "912 345 678"},  # no name: the company stands in
        {"First Name": "Bad", "Last Name": "Phone", "Phone 1 - Value": "12", "E-mail 1 - Value": "bad@x.com"},
        {"Nickname": "ghost"},  # nothing to find anyone by
    ])


def contacts(runtime) -> ContactService:  # noqa: ANN001
    rt = runtime("local")
    scope = rt.scope_for(rt.local_user_id())
    scope.account.set_profile(locale="es-ES")
    return scope.contacts


def run_import(svc: ContactService, path: Path):  # noqa: ANN201
    total, rows = read_contacts_file(path)
    return svc.import_contacts(rows, total=total, file=path.name)


def test_google_csv_round_trip(runtime, tmp_path: Path) -> None:
    svc = contacts(runtime)
    summary = run_import(svc, google_csv(tmp_path / "google.csv"))
    assert (summary.rows, summary.added, summary.updated, summary.unchanged) == (5, 4, 0, 0)
    assert [(s.row, s.reason) for s in summary.skipped] == [("row 6", "no name, email, phone or company")]
    assert [(w.row, w.reason) for w in summary.warnings] == [
        ("row 5", "phones: '12' is not a valid phone number for region ES; use international format, e.g. +34 612 345 678")]
    maria = svc.get(svc.search("maria garcia").hits[0].id)
    assert (maria.name, maria.emails, maria.phones, maria.company, maria.role, maria.tags, maria.notes, maria.source) == (
        "María García", ["maria@acme.com", "m.garcia@gmail.com"], ["+34612345678"], "Acme", "CFO", ["clients", "vip"],
        "Met at the fintech meetup", "import")
    assert svc.search("clinica sol").hits[0].phones == ["+34912345678"]
    assert svc.search("bad phone").hits[0].emails == ["bad@x.com"]

    again = run_import(svc, tmp_path / "google.csv")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert svc.page().total == 4


def test_reimport_of_an_edited_file_updates(runtime, tmp_path: Path) -> None:
    svc = contacts(runtime)
    path = write_csv(tmp_path / "a.csv", GOOGLE_HEADER, [
        {"First Name": "Ana", "Last Name": "López", "E-mail 1 - Value": "ana@x.com"},
    ])
    run_import(svc, path)
    write_csv(path, GOOGLE_HEADER, [
        {"First Name": "Ana", "Last Name": "López", "E-mail 1 - Value": "ana@x.com", "Phone 1 - Value": "612 111 222",
         "Organization Name": "Globex"},
        {"First Name": "Ana", "Last Name": "López", "E-mail 1 - Value": "ANA@x.com"},  # the same person twice in a file
    ])
    summary = run_import(svc, path)
    assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 1)
    [ana] = svc.page().contacts
    assert (ana.phones, ana.company) == (["+34612111222"], "Globex")


def test_google_old_csv_layout(runtime, tmp_path: Path) -> None:
    svc = contacts(runtime)
    path = write_csv(tmp_path / "old.csv", GOOGLE_OLD_HEADER, [
        {"Name": "Pedro Ruiz", "Given Name": "Pedro", "Family Name": "Ruiz", "Group Membership": "* My Contacts ::: Family",
         "E-mail 1 - Type": "* Home", "E-mail 1 - Value": "pedro@ruiz.es", "Phone 1 - Type": "Mobile",
         "Phone 1 - Value": "666 777 888", "Organization 1 - Name": "Ruiz SL", "Organization 1 - Title": "Owner"},
    ])
    summary = run_import(svc, path)
    assert summary.added == 1
    p = svc.get(svc.search("pedro").hits[0].id)
    assert (p.emails, p.phones, p.company, p.role, p.tags) == (["pedro@ruiz.es"], ["+34666777888"], "Ruiz SL", "Owner", ["family"])


def test_outlook_csv_layout_in_windows_encoding(runtime, tmp_path: Path) -> None:
    svc = contacts(runtime)
    path = write_csv(tmp_path / "outlook.csv", OUTLOOK_HEADER, [
        {"First Name": "José", "Last Name": "Martín", "Title": "Mr.", "Company": "Initech", "Job Title": "Manager",
         "Business Phone": "+34 915 555 000", "Mobile Phone": "699 888 777", "Business Fax": "915 555 001",
         "Categories": "Work;Golf", "E-mail Address": "jose@initech.com", "E-mail Type": "SMTP",
         "E-mail Display Name": "José Martín (jose@initech.com)", "E-mail 2 Address": "jose@home.es",
         "Notes": "Plays golf on Sundays"},
    ], encoding="cp1252")
    summary = run_import(svc, path)
    assert summary.added == 1 and summary.skipped == [] and summary.warnings == []
    j = svc.get(svc.search("jose martin").hits[0].id)
    assert (j.name, j.company, j.role, j.tags, j.notes) == ("José Martín", "Initech", "Manager", ["work", "golf"],
                                                            "Plays golf on Sundays")
    assert j.emails == ["jose@initech.com", "jose@home.es"]
    assert j.phones == ["+34915555000", "+34699888777"]  # the fax column is not a phone to call


VCARDS = """BEGIN:VCARD\r
VERSION:3.0\r
FN:María García\r
N:García;María;;;\r
EMAIL;TYPE=INTERNET,WORK:maria@acme.com\r
TEL;TYPE=CELL:+34 612 345 678\r
ORG:Acme\\, Inc.;Sales\r
TITLE:CFO\r
CATEGORIES:client,vip\r
NOTE:Met at the fintech meetup\\nLikes sailing; prefers email\r
UID:urn:uuid:1111\r
END:VCARD\r
BEGIN:VCARD\r
VERSION:2.1\r
N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:L=C3=B3pez;Jos=C3=A9;;;\r
TEL;CELL;PREF:612 000 111\r
NOTE;ENCODING=QUOTED-PRINTABLE:Primera l=C3=ADnea=0D=0A=\r
segunda l=C3=ADnea\r
END:VCARD\r
BEGIN:VCARD\r
VERSION:4.0\r
FN:John Smith with a folded\r
  long name\r
item1.EMAIL;TYPE=work:john@smith.com\r
TEL;VALUE=uri;TYPE="voice,cell":tel:+1-415-555-2671\r
END:VCARD\r
BEGIN:VCARD\r
VERSION:3.0\r
NOTE:a card with nothing to find anyone by\r
END:VCARD\r
"""


def test_vcard_round_trip(runtime, tmp_path: Path) -> None:
    svc = contacts(runtime)
    path = tmp_path / "contacts.vcf"
    path.write_text(VCARDS, encoding="utf-8", newline="")
    summary = run_import(svc, path)
    assert (summary.rows, summary.added) == (4, 3)
    assert [(s.row, s.reason) for s in summary.skipped] == [("card 4", "no name, email, phone or company")]
    maria = svc.get(svc.search("maria").hits[0].id)
    assert (maria.company, maria.role, maria.tags, maria.source_id) == ("Acme, Inc.", "CFO", ["client", "vip"], "urn:uuid:1111")
    assert maria.notes == "Met at the fintech meetup\nLikes sailing; prefers email"
    jose = svc.get(svc.search("jose lopez").hits[0].id)
    assert (jose.name, jose.phones, jose.notes) == ("José López", ["+34612000111"], "Primera línea\r\nsegunda línea")
    john = svc.get(svc.search("john").hits[0].id)
    assert (john.name, john.emails, john.phones) == ("John Smith with a folded long name", ["john@smith.com"], ["+14155552671"])

    again = run_import(svc, path)
    assert (again.added, again.unchanged) == (0, 3) and svc.page().total == 3


def test_row_matching_two_contacts_is_skipped_with_the_reason(runtime, tmp_path: Path) -> None:
    svc = contacts(runtime)
    a = svc.save(name="Eva", emails=["eva@a.com"]).contact
    b = svc.save(name="Eva", phones=["612 345 000"]).contact
    path = write_csv(tmp_path / "x.csv", GOOGLE_HEADER, [
        {"First Name": "Eva", "E-mail 1 - Value": "eva@a.com", "Phone 1 - Value": "612 345 000"},
    ])
    summary = run_import(svc, path)
    assert summary.added == 0 and len(summary.skipped) == 1
    assert summary.skipped[0].reason.startswith("matches 2 contacts") and a.id in summary.skipped[0].reason
    assert b.id in summary.skipped[0].reason


@pytest.mark.parametrize(("name", "content", "message"), [
    ("x.txt", "hello", "unknown format"),
    ("x.csv", "Foo,Bar\n1,2\n", "names no name, email or phone column"),
    ("x.vcf", "not a vcard", "no BEGIN:VCARD"),
])
def test_unreadable_files_are_refused(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ContactFileError, match=message):
        read_contacts_file(path)


# -- the command line -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    for key in [k for k in __import__("os").environ if k.startswith("JARVIS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("JARVIS_HOME", str(home))
    monkeypatch.setenv("JARVIS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("JARVIS_EMBEDDER", "minilm")  # the model of the suite's `runtime` fixture, which reopens the store
    return home


def test_cli_import_contacts(cli_env: Path, tmp_path: Path, capsys, runtime) -> None:
    path = google_csv(tmp_path / "google.csv")
    assert cli.main(["import", "contacts", str(path), "--region", "es", "--no-embeddings"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("google.csv: 4 added, 0 updated, 0 unchanged, 1 skipped")
    assert "[##############################] 5/5 contacts" in err
    assert "skipped row 6: no name, email, phone or company" in err and "warning row 5: phones:" in err
    assert cli.main(["import", "contacts", str(path), "--region", "ES"]) == 0
    assert capsys.readouterr().out.startswith("google.csv: 0 added, 0 updated, 4 unchanged, 1 skipped")
    rt = runtime("local")
    assert rt.scope_for(rt.local_user_id()).contacts.page().total == 4


def test_cli_import_errors(cli_env: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert cli.main(["import", "contacts", str(bad)]) == 2
    assert "unknown format" in capsys.readouterr().err
    assert cli.main(["import", "contacts", str(tmp_path / "missing.vcf")]) == 2
    assert cli.main(["import", "contacts", str(bad), "--region", "Spain"]) == 2
    assert "--region" in capsys.readouterr().err


def test_cli_sync_without_google_says_how_to_connect(cli_env: Path, capsys) -> None:
    assert cli.main(["sync", "contacts"]) == 1
    assert "jarvis-mcp connect google --client-secrets FILE" in capsys.readouterr().out
