"""Command line: serve, token issue, doctor, migrate, demo; import / sync / connect are in cli_data.py.
These two are the only modules that print to stdout."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jarvis_mcp import __version__, cli_data
from jarvis_mcp.config import ConfigError, ServiceUnreachable, Settings, load_settings
from jarvis_mcp.home import UMASK
from jarvis_mcp.logs import setup_logging

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

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
    docs = imp.add_parser("documents", help="PDF, text, Markdown and HTML files, or folders of them (recursive)")
    docs.add_argument("paths", type=Path, nargs="+")
    docs.add_argument("--tag", action="append", dest="tags", default=[], help="tag every document (repeatable)")
    cts = imp.add_parser("contacts", help="vCard (.vcf) or CSV (Google Contacts / Outlook export)")
    cts.add_argument("file", type=Path)
    cts.add_argument("--region", help="region for phones without a country code, e.g. ES (default: profile locale)")
    cts.add_argument("--no-embeddings", action="store_true", help="skip embedding notes (faster; no semantic match)")

    sync = sub.add_parser("sync", help="sync from a provider").add_subparsers(dest="sync_command", required=True)
    sync.add_parser("contacts", help="Google Contacts -> contacts of the local user (needs `connect google`)")
    connect = sub.add_parser("connect", help="connect a provider account").add_subparsers(dest="provider", required=True)
    google = connect.add_parser("google", help="OAuth consent in a browser; stores the refresh token encrypted")
    google.add_argument("--client-secrets", type=Path, required=True, help="OAuth client JSON (Desktop app)")

    sub.add_parser("doctor", help="check configuration, store and embedder")
    mig = sub.add_parser("migrate", help="create or update the Postgres / Supabase schema (run as the tables' owner)")
    mig.add_argument("--database-url", help="the owner's URL (default: JARVIS_DATABASE_URL)")
    mig.add_argument("--app-role", help="create this role if missing and grant it what the server needs; "
                                        "the server connects as it (RLS applies to it)")
    rx = sub.add_parser("reindex", help="re-embed every user's memories, passages and contact notes with the "
                                         "configured embedder (JARVIS_EMBEDDER); servers keep answering meanwhile")
    rx.add_argument("--batch", type=int, default=64, help="rows embedded and saved together (default 64)")
    rx.add_argument("--database-url", help="Postgres: the tables' owner's URL (default: JARVIS_DATABASE_URL)")
    sub.add_parser("demo", help="a scripted session through a real MCP client over stdio")
    _export_parser(sub)
    return p


def _export_parser(sub: Any) -> None:  # noqa: ANN401 - argparse's private subparsers action
    from jarvis_mcp.export.cli import DEFAULT_MODEL
    from jarvis_mcp.export.service import FORMATS, SENTIMENTS

    exp = sub.add_parser("export", help="export data").add_subparsers(dest="export_command", required=True)
    conv = exp.add_parser("conversations", help="logged conversations as fine-tuning JSONL (stdout or --out)")
    conv.add_argument("--format", choices=FORMATS, required=True)
    conv.add_argument("--user", help="internal user id (hosted operators; default: the local user)")
    conv.add_argument("--since", help="only conversations started on or after this ISO 8601 date")
    conv.add_argument("--sentiment", choices=SENTIMENTS, help="only conversations where the person's turns feel so")
    conv.add_argument("--out", type=Path, help="write the JSONL here instead of stdout")
    conv.add_argument("--upload", action="store_true", help="start an OpenAI fine-tuning job (JARVIS_OPENAI_API_KEY)")
    conv.add_argument("--model", default=DEFAULT_MODEL, help=f"base model for --upload (default {DEFAULT_MODEL})")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.umask(UMASK)  # what any command writes in the home (db, -wal/-shm, documents, outbox, keys): owner-only
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
        if args.command in ("import", "sync", "connect"):
            return _data_command(settings, args)
        if args.command == "migrate":
            return _migrate(settings, args)
        if args.command == "reindex":
            from jarvis_mcp.reindex.cli import reindex_command

            return reindex_command(settings, batch=args.batch, database_url=args.database_url)
        if args.command == "export":
            from jarvis_mcp.export.cli import export_conversations

            return export_conversations(settings, user=args.user, since=args.since, sentiment=args.sentiment,
                                        out=args.out, upload=args.upload, model=args.model)
        if args.command == "doctor":
            return _doctor(settings)
        if args.command == "demo":
            from jarvis_mcp.demo import run_demo

            return run_demo()
    except ServiceUnreachable as exc:
        # 3, not 2: the settings may be right and the same command succeed once the service is back.
        print(f"jarvis-mcp: {exc}", file=sys.stderr)
        return 3
    except ConfigError as exc:
        print(f"jarvis-mcp: {exc}", file=sys.stderr)
        return 2
    return 1


def _data_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "sync":
        return cli_data.sync_contacts(settings)
    if args.command == "connect":
        return cli_data.connect_google(settings, args.client_secrets)
    if args.import_command == "documents":
        return cli_data.import_documents(settings, args.paths, args.tags)
    if args.import_command == "contacts":
        return cli_data.import_contacts(settings, args.file, region=args.region, embed=not args.no_embeddings)
    return cli_data.import_memories(settings, args.file)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis_mcp.server import build_server

    if args.transport == "stdio":
        server = build_server(settings, read_only=args.read_only)
        with _opened(server):
            server.run("stdio")
        return 0

    from jarvis_mcp.identity.methods import offered as offered_methods
    from jarvis_mcp.web import check_binding, http_app, serve

    check_binding(settings, args.host)
    if settings.embedder_threads is None:
        # Many requests at once: one thread each keeps both cores busy without spinning threads fighting.
        settings = settings.model_copy(update={"embedder_threads": 1})
    if not settings.auth_enabled:
        log.warning("no JARVIS_JWT_SECRET or JARVIS_JWKS_URL: serving the single local user %r on loopback only",
                    settings.user)
    if settings.sign_in:
        log.info("sign-in page at http://%s:%d/signin (methods: %s)", args.host, args.port,
                 ", ".join(m.name for m in offered_methods(settings)) or "none configured; see `jarvis-mcp doctor`")
    server = build_server(settings, read_only=args.read_only, resource_url=f"http://{args.host}:{args.port}/mcp")
    app = http_app(server, host=args.host, stateless=args.stateless)
    with _opened(server) as hand_over:
        log.info("serving http://%s:%d/mcp (streamable HTTP) and /sse (legacy SSE)", args.host, args.port)
        started = serve(app, host=args.host, port=args.port, grace_seconds=settings.shutdown_grace_seconds,
                        started=hand_over)
    return 0 if started else 1


@contextmanager
def _opened(server: MCPServer[Any]) -> Iterator[Callable[[], None]]:
    """The runtime opened before serving: an unreachable database or Redis, or a store that refuses the
    settings, stops the command with its exit status and one line, not a traceback from inside the
    server's lifespan (where uvicorn would exit 3 and stdio 1, whatever the cause).

    Yields hand_over(): once the server's lifespan holds the runtime too, this one lets go, so that the
    lifespan's end closes it (uvicorn re-raises SIGTERM after its shutdown, and nothing after runs)."""
    shared = server.shared  # type: ignore[attr-defined]
    shared.acquire()
    held = [True]

    def hand_over() -> None:
        if held[0]:
            held[0] = False
            shared.release()

    try:
        yield hand_over
    finally:
        hand_over()


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


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    url = args.database_url or (settings.database_url.get_secret_value() if settings.database_url else None)
    if not url:
        print("jarvis-mcp: migrate needs --database-url or JARVIS_DATABASE_URL (the tables' owner)", file=sys.stderr)
        return 2
    try:
        from jarvis_mcp.adapters.postgres import migrate
        from jarvis_mcp.adapters.postgres.database import describe
    except ImportError:
        print("jarvis-mcp: migrate needs psycopg: pip install 'jarvis-mcp[postgres]'", file=sys.stderr)
        return 2
    import psycopg

    try:
        report = migrate(url, app_role=args.app_role)
    except psycopg.Error as exc:
        print(f"jarvis-mcp: migrate {describe(url)}: {str(exc).strip()}", file=sys.stderr)
        return 1
    print(f"{describe(url)}: applied {', '.join(report.applied) if report.applied else 'nothing (up to date)'}")
    print(f"pgvector: {'enabled' if report.pgvector else 'not available in this database'}"
          + (f" ({report.backfilled} existing vectors copied)" if report.backfilled else "")
          + (f"; keyword index rebuilt for {report.keywords_rebuilt} memories" if report.keywords_rebuilt else ""))
    if report.app_role:
        print(f"app role {report.app_role}: {'created (LOGIN, no password: set one with ALTER ROLE)' if report.app_role_created else 'exists'}; privileges granted")
    return 0


def _doctor(settings: Settings) -> int:
    from jarvis_mcp.bootstrap import open_runtime

    print(f"jarvis-mcp {__version__}")
    print(f"home:      {settings.home}")
    where = settings.database_path if settings.store == "sqlite" else "JARVIS_DATABASE_URL"
    print(f"store:     {settings.store} ({where})")
    print(f"embedder:  {settings.embedder}")
    print(f"http auth: {'bearer JWT' if settings.auth_enabled else 'off (loopback only, local user)'}")
    if settings.sign_in:
        from jarvis_mcp.identity.methods import report

        print(f"sign-in:   authorization server at the origin of {settings.public_url or 'the served URL'}; "
              "set JARVIS_JWT_SECRET when several processes serve it")
        for line in report(settings):
            print(f"  {line}")
    else:
        print("sign-in:   off (set JARVIS_SIGN_IN=email,google,wallet,telegram to sign people in)")
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
