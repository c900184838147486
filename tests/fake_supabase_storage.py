"""A small in-memory Supabase Storage REST API behind an httpx MockTransport.

It answers the endpoints the document adapter uses, the way Storage does (including its habit of sending
HTTP 400 with the real status in the body), and records every request, so tests see exactly what the
`supabase` client put on the wire: method, path, headers, body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

import httpx

URL = "https://project-ref.supabase.co"
KEY = "service-role-key-for-tests"
BUCKET = "jarvis-documents"


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    cache_control: str


@dataclass
class FakeStorage:
    buckets: dict[str, dict[str, object]] = field(default_factory=dict)
    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests]

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.headers.get("apikey") != KEY or request.headers.get("authorization") != f"Bearer {KEY}":
            return _error(400, "403", "Unauthorized", "invalid signature")
        path = request.url.path
        if not path.startswith("/storage/v1/"):
            return _error(404, "404", "not_found", "no such route")
        route = path[len("/storage/v1/"):]
        if m := re.fullmatch(r"bucket/([^/]+)", route):
            if request.method != "GET":
                return _error(405, "405", "method", "not allowed")
            bucket = self.buckets.get(m.group(1))
            if bucket is None:
                return _error(400, "404", "Bucket not found", "Bucket not found")
            return httpx.Response(200, json=bucket)
        if route == "bucket" and request.method == "POST":
            body = json.loads(request.content)
            if body["id"] in self.buckets:
                return _error(400, "409", "Duplicate", "The resource already exists")
            self.buckets[body["id"]] = {
                "id": body["id"], "name": body.get("name", body["id"]), "owner": "", "public": body.get("public", False),
                "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
                "file_size_limit": body.get("file_size_limit"), "allowed_mime_types": None,
            }
            return httpx.Response(200, json={"name": body["id"]})
        if m := re.fullmatch(r"object/sign/([^/]+)/(.+)", route):
            bucket, name = m.group(1), m.group(2)
            if (bucket, name) not in self.objects:
                return _error(400, "404", "not_found", "Object not found")
            expires = json.loads(request.content)["expiresIn"]
            return httpx.Response(200, json={"signedURL": f"/object/sign/{bucket}/{name}?token=signed-{expires}"})
        if m := re.fullmatch(r"object/([^/]+)", route):
            if request.method != "DELETE":
                return _error(405, "405", "method", "not allowed")
            removed = []
            for name in json.loads(request.content)["prefixes"]:
                if self.objects.pop((m.group(1), name), None) is not None:
                    removed.append({"name": name})
            return httpx.Response(200, json=removed)
        if m := re.fullmatch(r"object/([^/]+)/(.+)", route):
            bucket, name = m.group(1), m.group(2)
            if bucket not in self.buckets:
                return _error(400, "404", "Bucket not found", "Bucket not found")
            if request.method == "GET":
                found = self.objects.get((bucket, name))
                if found is None:
                    return _error(400, "404", "not_found", "Object not found")
                return httpx.Response(200, content=found.data, headers={"content-type": found.content_type})
            if request.method == "POST":
                if (bucket, name) in self.objects and request.headers.get("x-upsert") != "true":
                    return _error(400, "409", "Duplicate", "The resource already exists")
                fields = multipart_fields(request)
                data, content_type = fields["file"]
                self.objects[(bucket, name)] = StoredObject(data, content_type, fields["cacheControl"][0].decode())
                return httpx.Response(200, json={"Key": f"{bucket}/{name}", "Id": "obj-id"})
        return _error(404, "404", "not_found", f"no route for {request.method} {path}")


def multipart_fields(request: httpx.Request) -> dict[str, tuple[bytes, str]]:
    """name -> (payload, content type) of a multipart/form-data body."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    out = {}
    for part in message.iter_parts():
        out[part.get_param("name", header="content-disposition")] = (
            part.get_payload(decode=True), part.get_content_type(),
        )
    return out


def _error(http_status: int, status: str, error: str, message: str) -> httpx.Response:
    return httpx.Response(http_status, json={"statusCode": status, "error": error, "message": message})
