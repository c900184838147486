"""/app, route by route: the signed-in person's own data through their scope, forms with CSRF, bad input
named by field and writing nothing, another person's ids answering 404 like missing ones, stored text
escaped, and the local user on a loopback server without sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from webapp_support import Site, section, site

from jarvis_mcp.config import Settings
from jarvis_mcp.server import build_server
from jarvis_mcp.web import http_app

PAGES = ("/app", "/app/activity", "/app/approvals", "/app/memories", "/app/documents", "/app/contacts", "/app/connections")


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory, embedder: Any):
    with site(tmp_path_factory.mktemp("webapp") / "home", embedder) as s:
        a = s.scope("a")
        s.ids = {  # type: ignore[attr-defined]
            "memory": a.memory.remember("Ana prefers tea over coffee <script>alert(1)</script>").memory.id,
            "contact": a.contacts.save(name="Lucía Pérez", emails=["lucia@example.com"]).contact.id,
            "document": a.documents.add("Plan de viaje", text="Viaje a Lisboa en junio, hotel reservado.").document.id,
        }
        a.memory.remember("Mi hermana vive en Valencia desde 2019")
        a.actions.submit(a.mail.request_send(["lucia@example.com"], "Hola", "Nos vemos el lunes."))
        yield s


@pytest.fixture
def s(shared_site: Site) -> Site:
    shared_site.as_user("a")
    return shared_site


def test_every_page_shows_the_signed_in_persons_own_data(s: Site) -> None:
    pages = {path: s.client.get(path) for path in PAGES}
    for path, page in pages.items():
        assert page.status_code == 200, (path, page.text[:300])
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert 'name="viewport"' in page.text
    assert "Ana prefers tea" in pages["/app/memories"].text
    assert "Plan de viaje" in pages["/app/documents"].text
    assert "Lucía Pérez" in pages["/app/contacts"].text
    outbox = section(pages["/app/activity"].text, "outbox")
    assert "send email" in outbox and "Hola" in outbox and 'data-status="' in outbox
    assert "email" in section(pages["/app/connections"].text, "identities")
    assert "Onboarding is not finished" in pages["/app"].text


def test_stored_text_is_escaped_never_markup(s: Site) -> None:
    page = s.client.get("/app/memories").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(("query", "expected"), [("tea", "Ana prefers tea"),
                                                   ("¿dónde vive mi hermana?", "Mi hermana vive en Valencia")])
def test_memory_search_in_english_and_spanish(s: Site, query: str, expected: str) -> None:
    page = s.client.get("/app/memories", params={"q": query})
    assert page.status_code == 200
    assert expected in section(page.text, "memory-list")


@pytest.mark.parametrize("query", ["Lucia", "pérez", "lucia@example.com"])
def test_contact_search_folds_accents_and_finds_by_email(s: Site, query: str) -> None:
    page = s.client.get("/app/contacts", params={"q": query})
    assert "Lucía Pérez" in section(page.text, "contact-list")


def test_signed_out_visitors_are_sent_to_sign_in(s: Site) -> None:
    s.client.cookies.delete("jarvis_session")
    for path in PAGES:
        answer = s.client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/signin?next="), path
    assert s.client.get("/app/events").status_code == 401
    s.as_user("a")


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(s: Site) -> None:
    memory_id = s.ids["memory"]  # type: ignore[attr-defined]
    for data in ({}, {"csrf_token": "forged"}):
        answer = s.client.post(f"/app/memories/{memory_id}/delete", data=data)
        assert answer.status_code == 403
    assert s.scope("a").memory.get(memory_id).id == memory_id


def test_deleting_a_memory(s: Site) -> None:
    a = s.scope("a")
    memory_id = a.memory.remember("A passing thought to delete from the page").memory.id
    answer = s.client.post(f"/app/memories/{memory_id}/delete", data={"csrf_token": s.token()})
    assert answer.status_code == 303 and answer.headers["location"] == "/app/memories"
    assert memory_id not in s.client.get("/app/memories").text
    assert a.memory.forget([memory_id]).not_found == [memory_id]
    assert any(e.tool == "app:forget" for e in a.account.history(10).actions)  # audited like a tool call


def test_uploading_and_deleting_a_document(s: Site) -> None:
    token = s.token()
    files = {"file": ("notas.md", b"# Notas\n\nReunion con el equipo de ventas el martes.", "text/markdown")}
    answer = s.client.post("/app/documents", data={"csrf_token": token, "tags": "trabajo, ventas"}, files=files)
    assert answer.status_code == 303, answer.text[:500]
    listed = s.scope("a").documents.list(query="notas").documents
    assert [d.title for d in listed] == ["notas"] and listed[0].tags == ["trabajo", "ventas"]
    assert "notas.md" in s.client.get("/app/documents").text
    answer = s.client.post(f"/app/documents/{listed[0].id}/delete", data={"csrf_token": token})
    assert answer.status_code == 303
    assert "notas.md" not in s.client.get("/app/documents").text


def test_an_upload_without_a_file_names_the_field_and_stores_nothing(s: Site) -> None:
    before = s.scope("a").documents.list().total
    answer = s.client.post("/app/documents", data={"csrf_token": s.token(), "title": "nothing"})
    assert answer.status_code == 400 and "file:" in answer.text
    answer = s.client.post("/app/documents", data={"csrf_token": s.token()},
                           files={"file": ("empty.txt", b"", "text/plain")})
    assert answer.status_code == 400 and "file:" in answer.text
    assert s.scope("a").documents.list().total == before


def test_an_upload_over_the_document_limit_is_refused_by_name(tmp_path: Path, embedder: Any) -> None:
    with local_server(tmp_path / "home", embedder, max_document_bytes=2000) as (client, mcp):
        token = Site(client, mcp, {}).token("/app/documents")
        answer = client.post("/app/documents", data={"csrf_token": token},
                             files={"file": ("big.txt", b"palabra " * 1000, "text/plain")})
        assert answer.status_code == 400 and "file:" in answer.text
        # Far over the limit: refused from its Content-Length, before the body is read.
        answer = client.post("/app/documents", data={"csrf_token": token},
                             files={"file": ("huge.txt", b"word " * 40_000, "text/plain")})
        assert answer.status_code == 400 and "file: larger than the 2000 bytes" in answer.text
        runtime = mcp.shared.runtime
        assert runtime.scope_for(runtime.local_user_id()).documents.list().total == 0


def test_editing_a_contact(s: Site) -> None:
    contact_id = s.ids["contact"]  # type: ignore[attr-defined]
    form = s.client.get(f"/app/contacts/{contact_id}")
    assert form.status_code == 200 and 'value="lucia@example.com"' in form.text
    answer = s.client.post(f"/app/contacts/{contact_id}", data={
        "csrf_token": s.token(), "name": "Lucía Pérez", "emails": "lucia@example.com, lp@work.example",
        "phones": "+34 612 345 678", "company": "Acme", "tags": "cliente"})
    assert answer.status_code == 303
    saved = s.scope("a").contacts.get(contact_id)
    assert saved.emails == ["lucia@example.com", "lp@work.example"] and saved.phones == ["+34612345678"]
    assert saved.company == "Acme" and saved.tags == ["cliente"]


@pytest.mark.parametrize(("fields", "named"), [({"emails": "not-an-email"}, "emails"),
                                                ({"phones": "12"}, "phones"), ({"name": " "}, "name")])
def test_a_bad_contact_edit_names_the_field_and_changes_nothing(s: Site, fields: dict[str, str], named: str) -> None:
    contact_id = s.ids["contact"]  # type: ignore[attr-defined]
    before = s.scope("a").contacts.get(contact_id)
    answer = s.client.post(f"/app/contacts/{contact_id}", data={"csrf_token": s.token(), "name": before.name, **fields})
    assert answer.status_code == 400 and named in answer.text, answer.text[:400]
    assert s.scope("a").contacts.get(contact_id) == before


def test_another_persons_ids_answer_like_missing_ones(s: Site) -> None:
    ids = s.ids  # type: ignore[attr-defined]
    s.as_user("b")
    token = s.token()
    for path in PAGES:
        page = s.client.get(path).text
        for text in ("Ana prefers tea", "Lucía", "Plan de viaje", "Hola"):
            assert text not in page, (path, text)
    missing = s.client.get("/app/contacts/00000000-0000-0000-0000-000000000000")
    theirs = s.client.get(f"/app/contacts/{ids['contact']}")
    assert missing.status_code == theirs.status_code == 404
    assert missing.text.replace("00000000-0000-0000-0000-000000000000", "X") == theirs.text.replace(ids["contact"], "X")
    for path, data in ((f"/app/memories/{ids['memory']}/delete", {}),
                       (f"/app/documents/{ids['document']}/delete", {}),
                       (f"/app/contacts/{ids['contact']}", {"name": "Stolen"})):
        assert s.client.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    assert s.client.get("/app/memories", params={"q": "tea"}).text.count("Ana prefers") == 0
    a = s.scope("a")
    assert a.memory.get(ids["memory"]) and a.documents.info(ids["document"])
    assert a.contacts.get(ids["contact"]).name == "Lucía Pérez"


@contextmanager
def local_server(home: Path, embedder: Any, *, read_only: bool = False, base_url: str = "http://127.0.0.1:8765",
                 peer: str = "127.0.0.1", **overrides: Any) -> Iterator[tuple[TestClient, Any]]:
    """`jarvis-mcp serve --transport http` on loopback without sign-in: every visitor is the local user."""
    mcp = build_server(Settings(home=home, **overrides), embedder=embedder, read_only=read_only)
    with TestClient(http_app(mcp, host="127.0.0.1"), base_url=base_url, client=(peer, 5000),
                    follow_redirects=False) as client:
        yield client, mcp


def test_a_read_only_server_changes_nothing(tmp_path: Path, embedder: Any) -> None:
    with local_server(tmp_path / "home", embedder, read_only=True) as (client, mcp):
        runtime = mcp.shared.runtime
        memory_id = runtime.scope_for(runtime.local_user_id()).memory.remember("keep me").memory.id
        token = Site(client, mcp, {}).token("/app/memories")
        answer = client.post(f"/app/memories/{memory_id}/delete", data={"csrf_token": token})
        assert answer.status_code == 403 and "read-only" in answer.text
        assert "keep me" in client.get("/app/memories").text


def test_the_local_user_on_loopback_without_sign_in(tmp_path: Path, embedder: Any) -> None:
    with local_server(tmp_path / "home", embedder) as (client, mcp):
        runtime = mcp.shared.runtime
        runtime.scope_for(runtime.local_user_id()).memory.remember("the local user's note")
        page = client.get("/app/memories")
        assert page.status_code == 200 and "the local user&#39;s note" in page.text
        assert 'action="/signout"' not in page.text
    # A page reached under another name (DNS rebinding) or from another machine is not the local user's.
    with local_server(tmp_path / "home", embedder, base_url="http://attacker.example:8765") as (client, _):
        assert client.get("/app").status_code == 403
        assert client.get("/app/events").status_code == 401
    with local_server(tmp_path / "home", embedder, peer="192.0.2.7") as (client, _):
        assert client.get("/app/activity").status_code == 403


def test_tokens_without_sign_in_offer_no_page(tmp_path: Path, embedder: Any) -> None:
    settings = Settings(home=tmp_path / "home", jwt_secret="x" * 40, public_url="http://127.0.0.1:8765/mcp")
    with TestClient(http_app(build_server(settings, embedder=embedder), host="127.0.0.1"),
                    base_url="http://127.0.0.1:8765") as client:
        answer = client.get("/app")
        assert answer.status_code == 403 and "JARVIS_SIGN_IN" in answer.text
