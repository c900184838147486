"""A Pinecone data plane on 127.0.0.1 for tests: the real `pinecone` SDK talks HTTP to it.

It records every request (method, path, headers, JSON body) and answers like the data plane for the
vector API: /vectors/upsert, /query (metadata filters applied before cosine ranking), /vectors/delete
(by ids or filter) and /describe_index_stats. `fail_next(status, n)` makes the next n requests fail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

API_KEY = "pc-test-key"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _holds(op: str, arg: Any, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]  # a list field matches if any element does
    if op == "$eq":
        return arg in values
    if op == "$in":
        return any(v in arg for v in values)
    if op == "$gte":
        return value is not None and value >= arg
    if op == "$lte":
        return value is not None and value <= arg
    raise ValueError(f"operator {op} not supported by the fake")


def matches(meta: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    if not flt:
        return True
    for key, cond in flt.items():
        if key == "$and":
            if not all(matches(meta, c) for c in cond):
                return False
        elif key == "$or":
            if not any(matches(meta, c) for c in cond):
                return False
        else:
            ops = cond if isinstance(cond, dict) else {"$eq": cond}
            if not all(_holds(op, arg, meta.get(key)) for op, arg in ops.items()):
                return False
    return True


class FakePinecone:
    def __init__(self, dimension: int, metric: str = "cosine") -> None:
        self.dimension = dimension
        self.metric = metric
        self.namespaces: dict[str, dict[str, tuple[list[float], dict[str, Any]]]] = {}
        self.requests: list[Recorded] = []
        self._failures: list[tuple[int, str | None]] = []
        self.lock = threading.Lock()
        self.url = ""

    def fail_next(self, status: int, n: int = 1, path: str | None = None) -> None:
        """The next n requests (to `path` only, if given) answer `status`."""
        with self.lock:
            self._failures += [(status, path)] * n

    def heal(self) -> None:
        with self.lock:
            self._failures.clear()

    def ids(self, namespace: str) -> set[str]:
        return set(self.namespaces.get(namespace, {}))

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            failure = next((f for f in self._failures if f[1] in (None, path)), None)
            if failure is not None:
                self._failures.remove(failure)
                return failure[0], {"error": {"code": "UNAVAILABLE", "message": "injected failure"}}
            ns_name = body.get("namespace", "")
            ns = self.namespaces.setdefault(ns_name, {})
            if path == "/vectors/upsert":
                for v in body["vectors"]:
                    if len(v["values"]) != self.dimension:
                        return 400, {"error": {"code": "INVALID_ARGUMENT", "message": "Vector dimension mismatch"}}
                    ns[v["id"]] = (v["values"], v.get("metadata") or {})
                return 200, {"upsertedCount": len(body["vectors"])}
            if path == "/query":
                q = np.asarray(body["vector"], np.float64)
                scored = []
                for vid, (values, meta) in ns.items():
                    if matches(meta, body.get("filter")):
                        v = np.asarray(values, np.float64)
                        scored.append((float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v))), vid))
                scored.sort(reverse=True)
                return 200, {"matches": [{"id": vid, "score": s, "values": []} for s, vid in scored[: body["topK"]]],
                             "namespace": ns_name}
            if path == "/vectors/delete":
                if body.get("deleteAll"):
                    ns.clear()
                for vid in body.get("ids") or []:
                    ns.pop(vid, None)
                if body.get("filter"):
                    for vid in [k for k, (_, meta) in ns.items() if matches(meta, body["filter"])]:
                        del ns[vid]
                return 200, {}
            if path == "/describe_index_stats":
                return 200, {"namespaces": {k: {"vectorCount": len(v)} for k, v in self.namespaces.items() if v},
                             "dimension": self.dimension, "indexFullness": 0.0, "metric": self.metric,
                             "totalVectorCount": sum(len(v) for v in self.namespaces.values()), "vectorType": "dense"}
            return 404, {"error": {"code": "NOT_FOUND", "message": f"no route {path}"}}


@contextmanager
def serve(fake: FakePinecone) -> Iterator[FakePinecone]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw) if raw else {}
            with fake.lock:
                fake.requests.append(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if self.headers.get("Api-Key") != API_KEY:
                status, answer = 401, {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}}
            else:
                status, answer = fake.handle(self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
