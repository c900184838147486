"""The email method: a single-use link valid 10 minutes (single use even under concurrent requests),
written to the outbox folder on the embedded default, throttled per address and per client address."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from oauth_support import app_client, csrf, email_link, follow_link, settings

from jarvis_mcp.adapters.local_cache import LocalLimiter
from jarvis_mcp.adapters.sqlite import SqliteStore
from jarvis_mcp.identity.email_link import LINK_TTL_S, MAILBOX_ID, EmailLinks, normalize
from jarvis_mcp.identity.keys import digest
from jarvis_mcp.identity.proofs import ProofError
from jarvis_mcp.mail.ports import MailReceipt


@pytest.fixture
def client(tmp_path: Path, embedder: Any):
    with app_client(settings(tmp_path / "home"), embedder) as c:
        yield c


class Recorder:
    provider = "test"
    idempotent = True

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any, *, idempotency_key: str) -> MailReceipt:
        self.sent.append(message)
        return MailReceipt("test", "ref", True, "sent")

    def find_sent(self, message_id: str) -> None:
        return None


@pytest.fixture
def links(tmp_path: Path):
    store = SqliteStore(tmp_path / "db.sqlite")
    mailer = Recorder()
    yield EmailLinks(store, LocalLimiter(), lambda: mailer, issuer="http://127.0.0.1:8765",
                     sender="JARVIS <no-reply@localhost>", home=tmp_path), mailer, store
    store.close()


def _token(mailer: Recorder) -> str:
    body = mailer.sent[-1].get_body(("plain",)).get_content()
    return body.split("token=", 1)[1].split()[0]


def test_the_page_says_where_the_link_was_written_and_the_file_holds_it(client, tmp_path: Path) -> None:
    link = email_link(client, "ana@example.com")
    assert link.startswith("http://127.0.0.1:8765/signin/email/verify?token=jml_")
    files = list((tmp_path / "home" / "outbox" / MAILBOX_ID).glob("*.eml"))
    assert len(files) == 1
    assert "ana@example.com" in files[0].read_text()


def test_opening_the_link_does_not_sign_in_until_the_button_is_pressed(client) -> None:
    link = email_link(client, "scan@example.com")
    client.get(link.removeprefix("http://127.0.0.1:8765"))  # a mail scanner fetching it
    done = follow_link(client, link)  # the person, afterwards: still works
    assert done.status_code == 303


def test_a_link_works_once(client) -> None:
    link = email_link(client, "once@example.com")
    assert follow_link(client, link).status_code == 303
    client.cookies.clear()
    again = follow_link(client, link)
    assert again.status_code == 400
    assert "expired or was already used" in again.text


def test_a_link_is_used_once_under_concurrency(links) -> None:
    service, mailer, _ = links
    service.send("race@example.com", "198.51.100.1", "/")
    token = _token(mailer)
    wins: list[str] = []
    losses: list[str] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        try:
            wins.append(service.verify(token)[0].subject)
        except ProofError as exc:
            losses.append(str(exc))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins == ["race@example.com"]
    assert len(losses) == 7


def test_a_link_expires_after_ten_minutes(links) -> None:
    service, mailer, store = links
    assert LINK_TTL_S == 600
    service.send("late@example.com", "198.51.100.1", "/")
    token = _token(mailer)
    # The row as it will be 10 minutes later: its expiry passed.
    store.db.conn.execute("UPDATE sign_in_tokens SET expires_at = ? WHERE hash = ?", (time.time() - 1, digest(token)))
    with pytest.raises(ProofError, match="expired"):
        service.verify(token)


def test_proof_carries_the_verified_address_and_where_to_go(links) -> None:
    service, mailer, _ = links
    service.send("  Ana@Example.COM ", "198.51.100.1", "/consent?request=abc")
    proven, next_url, requested_by = service.verify(_token(mailer))
    assert (proven.issuer, proven.subject, proven.auth_method, proven.email) == (
        "email", "ana@example.com", "email", "ana@example.com")
    assert next_url == "/consent?request=abc"
    assert requested_by is None


def test_throttled_per_address(links) -> None:
    service, _, _ = links
    for i in range(3):
        service.send("spam@example.com", f"198.51.100.{i}", "/")
    with pytest.raises(ProofError, match="too many"):
        service.send("spam@example.com", "198.51.100.99", "/")
    service.send("other@example.com", "198.51.100.99", "/")  # another address is not affected


def test_throttled_per_client_address(links) -> None:
    service, _, _ = links
    for i in range(10):
        service.send(f"user{i}@example.com", "203.0.113.7", "/")
    with pytest.raises(ProofError, match="too many"):
        service.send("user99@example.com", "203.0.113.7", "/")


def test_throttling_answers_429_on_the_page(client) -> None:
    for _ in range(3):
        email_link(client, "page@example.com")
    page = client.get("/signin")
    answer = client.post("/signin/email", data={"email": "page@example.com", "csrf_token": csrf(page.text),
                                                "next": "/"})
    assert answer.status_code == 429
    assert "too many" in answer.text


@pytest.mark.parametrize("address", ["not an address", "ana@", "@example.com", "ana@localhost", "a" * 300 + "@x.es"])
def test_bad_addresses_are_refused_and_nothing_is_stored(links, address: str) -> None:
    service, mailer, store = links
    with pytest.raises(ProofError, match="not an email address"):
        service.send(address, "198.51.100.1", "/")
    assert mailer.sent == []
    assert store.db.conn.execute("SELECT count(*) FROM sign_in_tokens").fetchone()[0] == 0


def test_spanish_and_english_addresses_and_message(links) -> None:
    service, mailer, _ = links
    assert normalize("José.Pérez@Correo.ES") == "josé.pérez@correo.es"
    service.send("José.Pérez@Correo.ES", "198.51.100.1", "/")
    message = mailer.sent[-1]
    body = message.get_body(("plain",)).get_content()
    assert "Open this link to sign in" in body and "Abre este enlace para entrar" in body
    proven, _, _ = service.verify(_token(mailer))
    assert proven.email == "josé.pérez@correo.es"


def test_the_link_names_no_secret_in_the_store(links) -> None:
    service, mailer, store = links
    service.send("hash@example.com", "198.51.100.1", "/next")
    token = _token(mailer)
    rows = store.db.conn.execute("SELECT hash, data FROM sign_in_tokens").fetchall()
    assert rows[0][0] == digest(token) and token not in json.dumps(rows)
