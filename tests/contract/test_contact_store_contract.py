"""The ContactStore and CredentialStore ports over every store adapter (see conftest.py)."""

from __future__ import annotations

import uuid

import numpy as np

from jarvis_mcp.contacts.ports import ContactWrite


def new_user(store) -> str:  # noqa: ANN001
    return store.user_for_identity("https://idp.test", f"contacts-{uuid.uuid4()}", "local", None)


def write(name: str, *, emails: tuple[str, ...] = (), phones: tuple[str, ...] = (), id: str | None = None,  # noqa: A002
          tags: tuple[str, ...] = (), notes: str | None = None, source: str = "manual", source_id: str | None = None,
          company: str | None = None, vector: np.ndarray | None = None, keep_vector: bool = False) -> ContactWrite:
    return ContactWrite(id=id, name=name, emails=emails, phones=phones, company=company, role=None, tags=tags,
                        notes=notes, relationship=None, source=source, source_id=source_id, notes_vector=vector,
                        keep_vector=keep_vector)


def test_contacts_write_read_search_and_delete(store_index, embedder) -> None:
    store, _ = store_index
    alice, bob = new_user(store), new_user(store)
    notes = "Plays cello in the city orchestra"
    ana, jon = store.write_contacts(alice, [
        write("Ana Pérez", emails=("ana@example.com",), phones=("+34612345678",), tags=("family",),
              notes=notes, vector=embedder.embed([notes])[0]),
        write("Jon Smith", emails=("jon@acme.test",), company="Acme", source="google", source_id="people/c1"),
    ])
    assert uuid.UUID(ana.id) and ana.emails == ("ana@example.com",) and ana.tags == ("family",)
    assert store.count_contacts(alice) == 2 and store.count_contacts(bob) == 0
    assert [c.name for c in store.list_contacts(alice, 0, 10)] == ["Ana Pérez", "Jon Smith"]
    assert [c.name for c in store.list_contacts(alice, 1, 10)] == ["Jon Smith"]
    assert store.contacts_by_id(alice, [ana.id, "junk"]) == [ana]
    assert {(h, c.id) for h, c in store.contacts_by_handles(alice, ["ana@example.com"], ["+34612345678"])} == {
        ("ana@example.com", ana.id), ("+34612345678", ana.id)}
    assert store.contacts_by_source(alice, "google", ["people/c1"])["people/c1"].id == jon.id
    assert store.source_ids(alice, "google") == {"people/c1": jon.id}
    assert [c.id for c in store.contacts_by_name(alice, ["ana perez"])] == [ana.id]
    assert store.search_contacts(alice, "ana", None, 5)[0].record.id == ana.id
    assert store.search_contacts(alice, "acme", None, 5)[0].record.id == jon.id
    nearest = store.nearest_contacts(alice, embedder.embed(["who plays music?"])[0], None, 5)
    assert nearest and nearest[0][0].id == ana.id

    # An update replaces the handles; keep_vector keeps the stored notes vector.
    (ana2,) = store.write_contacts(alice, [write("Ana Pérez", id=ana.id, emails=("ana@new.test",), notes=notes,
                                                 keep_vector=True)])
    assert ana2.created_at == ana.created_at and ana2.emails == ("ana@new.test",)
    assert store.contacts_by_handles(alice, ["ana@example.com"], []) == []
    assert store.nearest_contacts(alice, embedder.embed(["cello player"])[0], None, 1)[0][0].id == ana.id

    # Bob sees nothing of Alice's, and can change nothing of hers.
    assert store.contacts_by_id(bob, [ana.id]) == [] and store.list_contacts(bob, 0, 10) == []
    assert store.contacts_by_handles(bob, ["ana@new.test"], ["+34612345678"]) == []
    assert store.search_contacts(bob, "ana", None, 5) == [] and store.source_ids(bob, "google") == {}
    assert store.nearest_contacts(bob, embedder.embed(["cello"])[0], None, 5) == []
    assert store.write_contacts(bob, [write("Hijacked", id=ana.id)]) == []
    assert store.delete_contacts(bob, [ana.id]) == []
    assert store.contacts_by_id(alice, [ana.id])[0].name == "Ana Pérez"

    assert store.delete_contacts(alice, [ana.id, "junk"]) == [ana.id]
    assert [m.record.id for m in store.search_contacts(alice, "ana", None, 5)] == []
    assert store.count_contacts(alice) == 1


def test_a_second_process_sees_contact_writes(open_store) -> None:
    one, _ = open_store()
    two, _ = open_store()
    alice = new_user(one)
    one.write_contacts(alice, [write("Marta Gómez", emails=("marta@example.com",))])
    assert two.search_contacts(alice, "marta", None, 5)[0].record.name == "Marta Gómez"  # two caches the index
    (lucia,) = one.write_contacts(alice, [write("Lucía Ruiz")])
    assert two.search_contacts(alice, "lucia", None, 5)[0].record.id == lucia.id
    one.delete_contacts(alice, [lucia.id])
    assert two.search_contacts(alice, "lucia", None, 5) == []


def test_credentials_and_sync_tokens_are_per_user(store_index) -> None:
    store, _ = store_index
    alice, bob = new_user(store), new_user(store)
    assert store.get_credential(alice, "google") is None
    store.put_credential(alice, "google", b"\x00sealed\xff")
    store.put_credential(alice, "google", b"sealed-again")
    assert store.get_credential(alice, "google") == b"sealed-again"
    assert store.get_credential(bob, "google") is None and store.delete_credential(bob, "google") is False
    store.set_sync_token(alice, "google", "tok-1")
    assert store.get_sync_token(alice, "google") == "tok-1" and store.get_sync_token(bob, "google") is None
    store.set_sync_token(alice, "google", None)
    assert store.get_sync_token(alice, "google") is None
    assert store.delete_credential(alice, "google") is True and store.get_credential(alice, "google") is None
