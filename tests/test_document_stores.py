"""The DocumentStore contract, run over every adapter: local files and Supabase Storage (over a fake of
its REST API at the HTTP boundary). Then what only the local adapter can get wrong: symlinks, atomic
writes, permissions."""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_supabase_storage import BUCKET, KEY, URL, FakeStorage

from jarvis_mcp.adapters.local_documents import LocalDocumentStore, UnsafeDocumentPath
from jarvis_mcp.adapters.supabase_documents import SupabaseDocumentStore
from jarvis_mcp.documents.ports import DocumentStore

ALICE = str(uuid.uuid4())
BOB = str(uuid.uuid4())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "supabase"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "local":
        yield LocalDocumentStore(tmp_path / "documents")
    else:
        fake = FakeStorage()
        with fake.client() as http:
            yield SupabaseDocumentStore(URL, KEY, BUCKET, http_client=http)


# -- the contract --------------------------------------------------------------------------------


def test_put_then_get_returns_the_bytes(store: DocumentStore) -> None:
    data = b"%PDF-1.4 contract bytes \x00\xff"
    store.put(ALICE, sha(data), data, "application/pdf")
    assert store.get(ALICE, sha(data)) == data


def test_put_is_idempotent(store: DocumentStore) -> None:
    data = b"the same bytes twice"
    store.put(ALICE, sha(data), data, "text/plain")
    store.put(ALICE, sha(data), data, "text/plain")
    assert store.get(ALICE, sha(data)) == data


def test_missing_object_is_none(store: DocumentStore) -> None:
    assert store.get(ALICE, sha(b"never stored")) is None


def test_delete_removes_and_is_idempotent(store: DocumentStore) -> None:
    data = b"short-lived"
    store.put(ALICE, sha(data), data, "text/plain")
    store.delete(ALICE, sha(data))
    assert store.get(ALICE, sha(data)) is None
    store.delete(ALICE, sha(data))  # again: no error


def test_users_do_not_share_objects(store: DocumentStore) -> None:
    data = b"alice's invoice"
    store.put(ALICE, sha(data), data, "text/plain")
    assert store.get(BOB, sha(data)) is None
    store.delete(BOB, sha(data))  # Bob deleting "the same key" touches only his own space
    assert store.get(ALICE, sha(data)) == data
    store.put(BOB, sha(data), data, "text/plain")  # the same content is stored for Bob as his own
    store.delete(ALICE, sha(data))
    assert store.get(BOB, sha(data)) == data


@pytest.mark.parametrize("key", [
    "../" + "a" * 61, "a" * 63, "A" * 64, "a" * 65, "/" + "a" * 63, "a" * 32 + "/" + "a" * 31, "", "..",
    "%2e%2e%2f" + "a" * 55,
])
def test_keys_other_than_sha256_hex_are_refused(store: DocumentStore, key: str) -> None:
    for call in (lambda: store.put(ALICE, key, b"x", "text/plain"), lambda: store.get(ALICE, key),
                 lambda: store.delete(ALICE, key)):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("user", ["../other", "not-a-uuid", ALICE.upper(), "", f"{ALICE}/..", "user_" + ALICE])
def test_user_ids_other_than_canonical_uuids_are_refused(store: DocumentStore, user: str) -> None:
    data = b"x"
    with pytest.raises(ValueError):
        store.put(user, sha(data), data, "text/plain")
    with pytest.raises(ValueError):
        store.get(user, sha(data))


def test_signed_url_is_a_link_or_none(store: DocumentStore) -> None:
    data = b"linkable"
    store.put(ALICE, sha(data), data, "text/plain")
    url = store.signed_url(ALICE, sha(data), "notes.txt", 60)
    assert url is None or url.startswith("https://")


# -- local files only ----------------------------------------------------------------------------


def test_local_layout_is_one_private_folder_per_user(tmp_path: Path) -> None:
    root = tmp_path / "documents"
    files = LocalDocumentStore(root)
    data = b"hello"
    files.put(ALICE, sha(data), data, "text/plain")
    path = root / ALICE / sha(data)
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / ALICE).stat().st_mode) == 0o700
    assert sorted(p.name for p in (root / ALICE).iterdir()) == [sha(data)]  # no temporary files left


def test_local_put_checks_the_key_is_the_content_hash(tmp_path: Path) -> None:
    files = LocalDocumentStore(tmp_path / "documents")
    with pytest.raises(ValueError, match="sha256"):
        files.put(ALICE, sha(b"one thing"), b"another thing", "text/plain")


def test_local_symlinked_user_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "documents"
    files = LocalDocumentStore(root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / ALICE).symlink_to(elsewhere, target_is_directory=True)
    data = b"must not land elsewhere"
    with pytest.raises(UnsafeDocumentPath):
        files.put(ALICE, sha(data), data, "text/plain")
    with pytest.raises(UnsafeDocumentPath):
        files.get(ALICE, sha(data))
    assert list(elsewhere.iterdir()) == []


def test_local_symlinked_object_is_refused_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "documents"
    files = LocalDocumentStore(root)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"server secret")
    files.put(ALICE, sha(b"x"), b"x", "text/plain")  # creates Alice's folder
    planted = sha(b"planted")
    os.symlink(secret, root / ALICE / planted)
    with pytest.raises(UnsafeDocumentPath):
        files.get(ALICE, planted)
    with pytest.raises(UnsafeDocumentPath):
        files.put(ALICE, planted, b"planted", "text/plain")
    files.delete(ALICE, planted)  # removes the link, not its target
    assert secret.read_bytes() == b"server secret"
    assert not (root / ALICE / planted).exists()


def test_local_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = LocalDocumentStore(tmp_path / "documents")
    files.put(ALICE, sha(b"x"), b"x", "text/plain")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    data = b"half written"
    with pytest.raises(OSError, match="disk full"):
        files.put(ALICE, sha(data), data, "text/plain")
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "documents" / ALICE).iterdir()) == [sha(b"x")]
    assert files.get(ALICE, sha(data)) is None
