"""DocumentStore on Supabase Storage, through the `supabase` client: one private bucket, objects named
user_{uuid}/{sha256}, downloads through signed URLs that expire in a minute or so.

The server authenticates with the service-role key, which Storage's row level security does not apply
to; isolation therefore rests on the object name, built here from a canonical UUID and a 64-hex key
only. No caller-supplied text ever becomes part of a path.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid

import httpx
from storage3.exceptions import StorageApiError
from supabase import ClientOptions, create_client

log = logging.getLogger(__name__)

_KEY = re.compile(r"[0-9a-f]{64}")


class SupabaseStorageError(Exception):
    """Storage refused a request in a way a retry will not fix (e.g. the bucket is public)."""


def object_path(user_id: str, key: str) -> str:
    try:
        canonical = str(uuid.UUID(user_id))
    except (ValueError, AttributeError, TypeError):
        raise ValueError("user id must be a UUID") from None
    if canonical != user_id or not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError("key must be a sha256 hex digest and user id a canonical UUID")
    return f"user_{canonical}/{key}"


def _status(exc: StorageApiError) -> str:
    # Storage answers some errors with HTTP 400 and the real status in the body ("statusCode": "404").
    return str(exc.status)


def _not_found(exc: StorageApiError) -> bool:
    return _status(exc) == "404" or str(exc.code).lower() in ("not_found", "nosuchkey", "nosuchbucket")


def _duplicate(exc: StorageApiError) -> bool:
    return _status(exc) == "409" or str(exc.code).lower() in ("duplicate", "keyalreadyexists")


class SupabaseDocumentStore:
    def __init__(self, url: str, key: str, bucket: str, *, max_object_bytes: int | None = None,
                 http_client: httpx.Client | None = None) -> None:
        """http_client: the httpx client every Storage request goes through (tests pass a mock transport)."""
        options = ClientOptions(httpx_client=http_client) if http_client is not None else ClientOptions()
        self._client = create_client(url, key, options)
        self._bucket_name = bucket
        self._max_object_bytes = max_object_bytes
        self._ready = False
        self._lock = threading.Lock()

    def _bucket(self):  # storage3 keeps its bucket proxy type private
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._ensure_private_bucket()
                    self._ready = True
        return self._client.storage.from_(self._bucket_name)

    def _ensure_private_bucket(self) -> None:
        storage = self._client.storage
        try:
            bucket = storage.get_bucket(self._bucket_name)
        except StorageApiError as exc:
            if not _not_found(exc):
                raise
            options: dict[str, object] = {"public": False}
            if self._max_object_bytes:
                options["file_size_limit"] = self._max_object_bytes
            try:
                storage.create_bucket(self._bucket_name, options=options)  # type: ignore[arg-type]
                log.info("created private Supabase Storage bucket %s", self._bucket_name)
            except StorageApiError as again:
                if not _duplicate(again):  # created by another server in the meantime
                    raise
            return
        if bucket.public:
            raise SupabaseStorageError(
                f"Supabase Storage bucket {self._bucket_name!r} is public; documents need a private bucket "
                "(make it private, or set JARVIS_SUPABASE_BUCKET to another one)"
            )

    def put(self, user_id: str, key: str, data: bytes, mime_type: str) -> None:
        path = object_path(user_id, key)
        try:
            self._bucket().upload(path, data, {"content-type": mime_type, "cache-control": "private, max-age=0",
                                               "x-upsert": "false"})
        except StorageApiError as exc:
            if not _duplicate(exc):  # content-addressed: an existing object already holds these bytes
                raise

    def get(self, user_id: str, key: str) -> bytes | None:
        path = object_path(user_id, key)
        try:
            return self._bucket().download(path)
        except StorageApiError as exc:
            if _not_found(exc):
                return None
            raise

    def delete(self, user_id: str, key: str) -> None:
        self._bucket().remove([object_path(user_id, key)])

    def signed_url(self, user_id: str, key: str, filename: str, expires_in: int) -> str | None:
        path = object_path(user_id, key)
        # download=filename makes Storage send Content-Disposition: attachment with the document's name.
        signed = self._bucket().create_signed_url(path, expires_in, {"download": filename})
        return signed.get("signedURL") or signed.get("signedUrl")

    def close(self) -> None:
        session = getattr(self._client.storage, "session", None)
        if session is not None:
            session.close()
