"""The Supabase Storage adapter at the HTTP boundary: the exact Storage REST requests the `supabase` client
sends (method, path, headers, body), the private bucket, signed URLs, error mapping, configuration, and the
whole document service running on it."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fake_supabase_storage import BUCKET, KEY, URL, FakeStorage, multipart_fields

from jarvis_mcp.adapters.supabase_documents import SupabaseDocumentStore, SupabaseStorageError
from jarvis_mcp.config import ConfigError, load_settings
from jarvis_mcp.documents.service import DocumentService

USER = str(uuid.uuid4())
PDF_BYTES = b"%PDF-1.4\n% not parsed by the adapter\n"
SHA = hashlib.sha256(PDF_BYTES).hexdigest()
OBJECT = f"user_{USER}/{SHA}"


@pytest.fixture
def fake() -> FakeStorage:
    return FakeStorage()


@pytest.fixture
def adapter(fake: FakeStorage) -> Iterator[SupabaseDocumentStore]:
    with fake.client() as http:
        yield SupabaseDocumentStore(URL, KEY, BUCKET, http_client=http, max_object_bytes=20 << 20)


def test_first_upload_creates_a_private_bucket_then_posts_the_object(fake: FakeStorage, adapter) -> None:
    adapter.put(USER, SHA, PDF_BYTES, "application/pdf")
    assert fake.calls() == [
        ("GET", f"/storage/v1/bucket/{BUCKET}"),
        ("POST", "/storage/v1/bucket"),
        ("POST", f"/storage/v1/object/{BUCKET}/{OBJECT}"),
    ]
    create = fake.requests[1]
    assert json.loads(create.content) == {"id": BUCKET, "name": BUCKET, "public": False, "file_size_limit": 20 << 20}
    upload = fake.requests[2]
    assert upload.url.host == "project-ref.supabase.co" and upload.url.scheme == "https"
    assert upload.headers["apikey"] == KEY
    assert upload.headers["authorization"] == f"Bearer {KEY}"
    assert upload.headers["x-upsert"] == "false"  # content-addressed: never overwrite
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    fields = multipart_fields(upload)
    assert fields["file"] == (PDF_BYTES, "application/pdf")
    assert fields["cacheControl"][0] == b"private, max-age=0"
    assert f'filename="{SHA}"'.encode() in upload.content


def test_bucket_is_checked_once_per_process(fake: FakeStorage, adapter) -> None:
    adapter.put(USER, SHA, PDF_BYTES, "application/pdf")
    other = b"second document"
    adapter.put(USER, hashlib.sha256(other).hexdigest(), other, "text/plain")
    assert [c for c in fake.calls() if "/bucket" in c[1]] == [
        ("GET", f"/storage/v1/bucket/{BUCKET}"), ("POST", "/storage/v1/bucket"),
    ]


def test_an_existing_private_bucket_is_used_as_is(fake: FakeStorage, adapter) -> None:
    fake.buckets[BUCKET] = {"id": BUCKET, "name": BUCKET, "owner": "", "public": False,
                            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
                            "file_size_limit": None, "allowed_mime_types": None}
    adapter.put(USER, SHA, PDF_BYTES, "application/pdf")
    assert fake.calls()[:2] == [("GET", f"/storage/v1/bucket/{BUCKET}"), ("POST", f"/storage/v1/object/{BUCKET}/{OBJECT}")]


def test_a_public_bucket_is_refused(fake: FakeStorage, adapter) -> None:
    fake.buckets[BUCKET] = {"id": BUCKET, "name": BUCKET, "owner": "", "public": True,
                            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
                            "file_size_limit": None, "allowed_mime_types": None}
    with pytest.raises(SupabaseStorageError, match="public"):
        adapter.put(USER, SHA, PDF_BYTES, "application/pdf")
    assert not fake.objects


def test_uploading_existing_content_again_is_not_an_error(fake: FakeStorage, adapter) -> None:
    adapter.put(USER, SHA, PDF_BYTES, "application/pdf")
    adapter.put(USER, SHA, PDF_BYTES, "application/pdf")  # Storage answers 409 Duplicate; same bytes by construction
    assert len([c for c in fake.calls() if c[0] == "POST" and "/object/" in c[1]]) == 2
    assert fake.objects[(BUCKET, OBJECT)].data == PDF_BYTES


def test_download_is_an_authenticated_get(fake: FakeStorage, adapter) -> None:
    adapter.put(USER, SHA, PDF_BYTES, "application/pdf")
    fake.requests.clear()
    assert adapter.get(USER, SHA) == PDF_BYTES
    (request,) = fake.requests
    assert (request.method, request.url.path, request.url.query) == ("GET", f"/storage/v1/object/{BUCKET}/{OBJECT}", b"")
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_missing_object_reads_as_none(fake: FakeStorage, adapter) -> None:
    assert adapter.get(USER, SHA) is None  # Storage: HTTP 400 with statusCode "404" in the body


def test_delete_sends_the_prefixes(fake: FakeStorage, adapter) -> None:
    adapter.put(USER, SHA, PDF_BYTES, "application/pdf")
    fake.requests.clear()
    adapter.delete(USER, SHA)
    (request,) = fake.requests
    assert (request.method, request.url.path) == ("DELETE", f"/storage/v1/object/{BUCKET}")
    assert json.loads(request.content) == {"prefixes": [OBJECT]}
    assert not fake.objects


def test_signed_url_is_short_lived_and_names_the_download(fake: FakeStorage, adapter) -> None:
    adapter.put(USER, SHA, PDF_BYTES, "application/pdf")
    fake.requests.clear()
    url = adapter.signed_url(USER, SHA, "lease.pdf", 60)
    (request,) = fake.requests
    assert (request.method, request.url.path) == ("POST", f"/storage/v1/object/sign/{BUCKET}/{OBJECT}")
    assert json.loads(request.content) == {"expiresIn": "60", "download": "lease.pdf"}
    parsed = httpx.URL(url)
    assert parsed.host == "project-ref.supabase.co"
    assert parsed.path == f"/storage/v1/object/sign/{BUCKET}/{OBJECT}"
    assert parsed.params["token"] == "signed-60" and parsed.params["download"] == "lease.pdf"


def test_other_storage_errors_are_raised(fake: FakeStorage) -> None:
    with fake.client() as http:
        wrong_key = SupabaseDocumentStore(URL, "not-the-key", BUCKET, http_client=http)
        with pytest.raises(Exception, match="Unauthorized|signature"):
            wrong_key.get(USER, SHA)


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "named"), [
    ({"document_store": "supabase"}, "JARVIS_SUPABASE_URL and JARVIS_SUPABASE_KEY"),
    ({"document_store": "supabase", "supabase_url": URL}, "JARVIS_SUPABASE_KEY"),
    ({"document_store": "supabase", "supabase_key": KEY}, "JARVIS_SUPABASE_URL"),
    ({"document_store": "s3"}, "JARVIS_DOCUMENT_STORE"),
    ({"document_store": "supabase", "supabase_url": "ftp://x", "supabase_key": KEY}, "JARVIS_SUPABASE_URL"),
    ({"supabase_bucket": "../up"}, "JARVIS_SUPABASE_BUCKET"),
    ({"max_document_bytes": 10 << 20, "max_user_document_bytes": 1 << 20}, "JARVIS_MAX_USER_DOCUMENT_BYTES"),
])
def test_incomplete_configuration_is_refused_at_start(tmp_path, monkeypatch, overrides, named) -> None:
    monkeypatch.delenv("JARVIS_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=named):
        load_settings(home=tmp_path, **overrides)


def test_supabase_settings_are_accepted(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("JARVIS_CONFIG", raising=False)
    settings = load_settings(home=tmp_path, document_store="supabase", supabase_url=URL, supabase_key=KEY)
    assert settings.document_store == "supabase" and settings.supabase_bucket == "jarvis-documents"
    assert KEY not in repr(settings)  # the key is a secret


# -- the document service on Supabase --------------------------------------------------------------


def test_document_service_round_trip_on_supabase(fake: FakeStorage, adapter, runtime) -> None:
    rt = runtime("alice")
    user = rt.local_user_id()
    service = DocumentService(user, rt.store, adapter, rt.embedder, memories=rt.store, max_document_bytes=1 << 20,
                              max_user_bytes=1 << 21)
    text = "# Boiler\n\nThe boiler service contract renews every March with Kestrel Heating."
    added = service.add("Boiler contract", content_base64=base64.b64encode(text.encode()).decode(),
                        mime_type="text/markdown")
    sha = hashlib.sha256(text.encode()).hexdigest()
    assert fake.objects[(BUCKET, f"user_{user}/{sha}")].content_type == "text/markdown"
    read = service.read(added.document.id)
    assert "Kestrel Heating" in read.text
    assert read.download_url and "download=Boiler" in read.download_url
    attachment = service.attachment(added.document.id)
    assert (attachment.filename, attachment.mime_type, attachment.data) == ("Boiler contract.md", "text/markdown", text.encode())
    service.delete(added.document.id)
    assert not fake.objects
