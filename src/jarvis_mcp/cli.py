"""Command line: serve, token issue, import memories, doctor, demo. The only module that prints to stdout."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from jarvis_mcp import __version__
from jarvis_mcp.config import ConfigError, Settings, load_settings
from jarvis_mcp.logs import setup_logging

log = logging.getLogger("jarvis_mcp")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jarvis-mcp", description="JARVIS MCP server: per-user memory and actions.")
    p.add_argument("--version", action="version", version=f"jarvis-mcp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve over stdio (default) or HTTP (/mcp streamable, /sse legacy)")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--read-only", action="store_true", help="list only tools annotated read-only")
    serve.add_argument("--stateless", action="store_true", help="streamable HTTP without sessions in memory")

    token = sub.add_parser("token", help="development tokens").add_subparsers(dest="token_command", required=True)
    issue = token.add_parser("issue", help="print a bearer token signed with JARVIS_JWT_SECRET")
    issue.add_argument("--user", required=True, help="the token's subject")
    issue.add_argument("--auth-method", default="local")
    issue.add_argument("--ttl", default="1h", help="e.g. 90s, 15m, 1h, 7d")
    issue.add_argument("--email", help="a verified email to put in the token")

    imp = sub.add_parser("import", help="bulk import").add_subparsers(dest="import_command", required=True)
    mem = imp.add_parser("memories", help="JSON Lines ({text, kind, tags, occurred_at}) or plain text, one per line")
    mem.add_argument("file", type=Path)

    sub.add_parser("doctor", help="check configuration, store and embedder")
    sub.add_parser("demo", help="a scripted session through a real MCP client over stdio")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"jarvis-mcp: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "token":
            return _issue(settings, args)
        if args.command == "import":
            return _import_memories(settings, args.file)
        if args.command == "doctor":
            return _doctor(settings)
        if args.command == "demo":
            from jarvis_mcp.demo import run_demo

            return run_demo()
    except ConfigError as exc:
        print(f"jarvis-mcp: {exc}", file=sys.stderr)
        return 2
    return 1


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis_mcp.server import build_server

    if args.transport == "stdio":
        build_server(settings, read_only=args.read_only).run("stdio")
        return 0

    import uvicorn

    from jarvis_mcp.web import check_binding, http_app

    check_binding(settings, args.host)
    if not settings.auth_enabled:
        log.warning("no JARVIS_JWT_SECRET or JARVIS_JWKS_URL: serving the single local user %r on loopback only",
                    settings.user)
    server = build_server(settings, read_only=args.read_only, resource_url=f"http://{args.host}:{args.port}/mcp")
    app = http_app(server, host=args.host, stateless=args.stateless)
    log.info("serving http://%s:%d/mcp (streamable HTTP) and /sse (legacy SSE)", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def _issue(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis_mcp.tokens import issue_token, parse_ttl

    try:
        ttl = parse_ttl(args.ttl)
        token = issue_token(settings, subject=args.user, auth_method=args.auth_method, ttl_seconds=ttl, email=args.email)
    except ValueError as exc:
        print(f"jarvis-mcp: {exc}", file=sys.stderr)
        return 2
    print(f"# bearer token for {args.user!r} ({args.auth_method}), valid {args.ttl}", file=sys.stderr)
    print(token)
    return 0


def _read_memories(path: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            if path.suffix in (".jsonl", ".ndjson"):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}:{n}: not JSON ({exc.msg})") from None
                if not isinstance(obj, dict) or "text" not in obj:
                    raise ConfigError(f"{path}:{n}: each line must be an object with a 'text' field")
                rows.append(obj)
            else:
                rows.append({"text": line})
    return rows


def _import_memories(settings: Settings, path: Path) -> int:
    from datetime import datetime

    from jarvis_mcp.bootstrap import open_runtime
    from jarvis_mcp.errors import JarvisError
    from jarvis_mcp.services.memory import MemoryInput

    if not path.is_file():
        print(f"jarvis-mcp: no such file: {path}", file=sys.stderr)
        return 2
    rows = _read_memories(path)
    runtime = open_runtime(settings)
    memory = runtime.scope_for(runtime.local_user_id()).memory
    started, added, existing = time.perf_counter(), 0, 0
    batch = 256
    try:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            inputs = [
                MemoryInput(
                    text=str(r["text"]), kind=str(r.get("kind", "note")), tags=list(r.get("tags") or []),  # type: ignore[call-overload]
                    occurred_at=datetime.fromisoformat(str(r["occurred_at"])) if r.get("occurred_at") else None,
                )
                for r in chunk
            ]
            try:
                results = memory.remember_many(inputs, field=f"line {start + 1}+")
            except JarvisError as exc:
                print(f"jarvis-mcp: {exc}", file=sys.stderr)
                return 2
            added += sum(r.created for r in results)
            existing += sum(not r.created for r in results)
            done = start + len(chunk)
            bar = "#" * int(30 * done / len(rows))
            print(f"\r[{bar:<30}] {done}/{len(rows)}", end="", file=sys.stderr, flush=True)
    finally:
        runtime.close()
    elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    print(f"imported {added} new memories, {existing} already stored, in {elapsed:.1f} s "
          f"({len(rows) / max(elapsed, 1e-9):.0f}/s)")
    return 0


def _doctor(settings: Settings) -> int:
    from jarvis_mcp.bootstrap import open_runtime

    print(f"jarvis-mcp {__version__}")
    print(f"home:      {settings.home}")
    print(f"store:     {settings.store} ({settings.database_path})")
    print(f"embedder:  {settings.embedder}")
    print(f"http auth: {'bearer JWT' if settings.auth_enabled else 'off (loopback only, local user)'}")
    started = time.perf_counter()
    runtime = open_runtime(settings)
    try:
        runtime.embedder.embed(["doctor check"])
        scope = runtime.scope_for(runtime.local_user_id())
        print(f"user:      {settings.user} ({scope.account.usage(1).memories} memories)")
    finally:
        runtime.close()
    print(f"ok: store and embedder ready in {time.perf_counter() - started:.2f} s")
    return 0
