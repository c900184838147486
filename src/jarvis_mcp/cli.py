"""Command line: serve, token issue, import memories, doctor, demo. The only module that prints to stdout."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jarvis_mcp import __version__
from jarvis_mcp.config import ConfigError, ServiceUnreachable, Settings, load_settings
from jarvis_mcp.home import UMASK
from jarvis_mcp.logs import setup_logging

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from jarvis_mcp.memory.service import MemoryInput

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
    sub.add_parser("demo", help="a scripted session through a real MCP client over stdio")
    return p


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
        if args.command == "import":
            if args.import_command == "documents":
                return _import_documents(settings, args.paths, args.tags)
            if args.import_command == "contacts":
                return _import_contacts(settings, args.file, region=args.region, embed=not args.no_embeddings)
            return _import_memories(settings, args.file)
        if args.command == "sync":
            return _sync_contacts(settings)
        if args.command == "connect":
            return _connect_google(settings, args.client_secrets)
        if args.command == "migrate":
            return _migrate(settings, args)
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


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from jarvis_mcp.server import build_server

    if args.transport == "stdio":
        server = build_server(settings, read_only=args.read_only)
        with _opened(server):
            server.run("stdio")
        return 0

    from jarvis_mcp.web import check_binding, http_app, serve

    check_binding(settings, args.host)
    if settings.embedder_threads is None:
        # Many requests at once: one thread each keeps both cores busy without spinning threads fighting.
        settings = settings.model_copy(update={"embedder_threads": 1})
    if not settings.auth_enabled:
        log.warning("no JARVIS_JWT_SECRET or JARVIS_JWKS_URL: serving the single local user %r on loopback only",
                    settings.user)
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


_MEMORY_FIELDS = ("text", "kind", "tags", "occurred_at")


def _memory_from_json(where: str, obj: object) -> MemoryInput:
    from datetime import datetime

    from jarvis_mcp.memory.models import WRITABLE_KINDS
    from jarvis_mcp.memory.service import MemoryInput

    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise ConfigError(f"{where}: each line must be an object with a 'text' string")
    # An unknown key is most likely a typo ("tag"); dropping it silently would lose what it carried.
    if unknown := sorted(set(obj) - set(_MEMORY_FIELDS)):
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (expected {', '.join(_MEMORY_FIELDS)})")
    kind = "note" if obj.get("kind") is None else obj["kind"]
    if kind not in WRITABLE_KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(WRITABLE_KINDS)}")
    tags = obj.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise ConfigError(f"{where}: tags must be a list of strings")
    occurred_at = obj.get("occurred_at")
    if occurred_at is not None:
        try:
            occurred_at = datetime.fromisoformat(occurred_at) if isinstance(occurred_at, str) else None
        except ValueError:
            occurred_at = None
        if occurred_at is None:
            raise ConfigError(f"{where}: occurred_at must be an ISO 8601 time, e.g. 2024-05-01T09:30:00+02:00")
    return MemoryInput(text=obj["text"], kind=kind, tags=tags, occurred_at=occurred_at)


def _read_memories(path: Path) -> list[MemoryInput]:
    """Every line checked before anything is written, so a bad line names itself and leaves the store as it was."""
    from jarvis_mcp.errors import InvalidInput
    from jarvis_mcp.memory.service import MAX_MEMORY_CHARS, MemoryInput
    from jarvis_mcp.text import clean_tags, clean_text

    rows: list[MemoryInput] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                where = f"{path}:{n}"
                if path.suffix in (".jsonl", ".ndjson"):
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ConfigError(f"{where}: not JSON ({exc.msg})") from None
                    row = _memory_from_json(where, obj)
                else:
                    row = MemoryInput(text=line)
                try:  # the service's own rules, applied up front
                    clean_text(f"{where}: text", row.text, MAX_MEMORY_CHARS)
                    clean_tags(f"{where}: tags", row.tags)
                except InvalidInput as exc:
                    raise ConfigError(str(exc)) from None
                rows.append(row)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return rows


def _import_memories(settings: Settings, path: Path) -> int:
    from jarvis_mcp.bootstrap import open_runtime
    from jarvis_mcp.errors import JarvisError

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
            try:
                results = memory.remember_many(chunk, field=f"line {start + 1}+")
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
          + (f" ({report.backfilled} existing vectors copied)" if report.backfilled else ""))
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


_DOCUMENT_SUFFIXES = {".pdf", ".txt", ".text", ".md", ".markdown", ".mdown", ".html", ".htm", ".xhtml"}


def _document_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Files named on the command line, plus supported files inside folders. Inside folders symlinks and
    hidden entries are skipped, so an import never wanders out of the folder it was given."""
    import os

    files: list[Path] = []
    skipped: list[str] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for root, dirs, names in os.walk(path):  # followlinks=False: linked folders are not entered
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    full = Path(root) / name
                    if name.startswith(".") or full.is_symlink():
                        skipped.append(f"{full}: hidden or a symlink")
                    elif full.suffix.lower() in _DOCUMENT_SUFFIXES:
                        files.append(full)
                    else:
                        skipped.append(f"{full}: not a supported type")
        else:
            skipped.append(f"{path}: no such file or folder")
    return files, skipped


def _import_documents(settings: Settings, paths: list[Path], tags: list[str]) -> int:
    import re

    from jarvis_mcp.bootstrap import open_runtime
    from jarvis_mcp.documents.service import clean_filename
    from jarvis_mcp.errors import JarvisError
    from jarvis_mcp.text import clean_tags

    try:
        tags = list(clean_tags("--tag", tags))
    except JarvisError as exc:
        print(f"jarvis-mcp: {exc}", file=sys.stderr)
        return 2
    files, skipped = _document_files(paths)
    if not files:
        print("jarvis-mcp: no documents to import" + "".join(f"\n  {s}" for s in skipped), file=sys.stderr)
        return 2
    runtime = open_runtime(settings)
    documents = runtime.scope_for(runtime.local_user_id()).documents
    started, added, existing, passages = time.perf_counter(), 0, 0, 0
    failed: list[str] = []
    try:
        for n, path in enumerate(files, 1):
            bar = "#" * int(30 * n / len(files))
            print(f"\r[{bar:<30}] {n}/{len(files)} {path.name[:40]:<40}", end="", file=sys.stderr, flush=True)
            try:
                if path.stat().st_size > settings.max_document_bytes:
                    raise JarvisError(f"larger than JARVIS_MAX_DOCUMENT_BYTES ({settings.max_document_bytes})")
                title = re.sub(r"[\x00-\x1f\x7f/\\]+", " ", path.stem).strip(" .") or "document"
                try:
                    filename: str | None = clean_filename(path.name)
                except JarvisError:
                    filename = None  # derived from the title instead
                result = documents.add_bytes(path.read_bytes(), title=title[:200], filename=filename, tags=tags)
            except (JarvisError, OSError) as exc:
                failed.append(f"{path}: {exc}")
                continue
            added += result.created
            existing += not result.created
            passages += result.passages if result.created else 0
    finally:
        runtime.close()
    elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    for line in failed:
        print(f"  failed: {line}", file=sys.stderr)
    for line in skipped:
        print(f"  skipped: {line}", file=sys.stderr)
    print(f"imported {added} new documents ({passages} passages), {existing} already stored, "
          f"{len(failed)} failed, {len(skipped)} skipped, in {elapsed:.1f} s")
    return 1 if failed else 0


def _bar(done: int, total: int | None, what: str) -> None:
    if total:
        bar = "#" * int(30 * min(done, total) / total)
        print(f"\r[{bar:<30}] {done}/{total} {what}", end="", file=sys.stderr, flush=True)
    else:
        print(f"\r{done} {what}", end="", file=sys.stderr, flush=True)


def _import_contacts(settings: Settings, path: Path, *, region: str | None = None, embed: bool = True) -> int:
    from jarvis_mcp.bootstrap import open_runtime
    from jarvis_mcp.contacts.files import ContactFileError, read_contacts_file

    if region is not None and not re.fullmatch(r"[A-Za-z]{2}", region):
        print(f"jarvis-mcp: --region: {region!r} is not a two-letter region code (e.g. ES)", file=sys.stderr)
        return 2
    try:
        total, rows = read_contacts_file(path)
    except (ContactFileError, OSError) as exc:
        print(f"jarvis-mcp: {exc}", file=sys.stderr)
        return 2
    runtime = open_runtime(settings)
    try:
        contacts = runtime.scope_for(runtime.local_user_id()).contacts
        if region:
            contacts.region = region.upper()
        summary = contacts.import_contacts(rows, total=total, embed=embed, file=path.name,
                                           progress=lambda done, tot, _: _bar(done, tot, "contacts"))
    finally:
        runtime.close()
    print(file=sys.stderr)
    for issue in summary.skipped:
        print(f"  skipped {issue.row}: {issue.reason}", file=sys.stderr)
    for issue in summary.warnings[:50]:
        print(f"  warning {issue.row}: {issue.reason}", file=sys.stderr)
    if len(summary.warnings) > 50:
        print(f"  ... {len(summary.warnings) - 50} more warnings", file=sys.stderr)
    print(f"{path.name}: {summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
          f"{len(summary.skipped)} skipped, in {summary.seconds:.1f} s ({summary.rows / max(summary.seconds, 1e-9):.0f}/s)")
    return 0


def _sync_contacts(settings: Settings) -> int:
    from jarvis_mcp.bootstrap import open_runtime
    from jarvis_mcp.errors import JarvisError

    runtime = open_runtime(settings)
    try:
        contacts = runtime.scope_for(runtime.local_user_id()).contacts
        try:
            result = contacts.sync(progress=lambda done, total, _: _bar(done, total, "contacts from Google"))
        except JarvisError as exc:
            print(f"\njarvis-mcp: {exc}", file=sys.stderr)
            return 1
    finally:
        runtime.close()
    print(file=sys.stderr)
    for issue in result.skipped:
        print(f"  skipped {issue.row}: {issue.reason}", file=sys.stderr)
    print(result.message)
    return 0 if result.status == "synced" else 1


def _connect_google(settings: Settings, client_secrets: Path, consent=None) -> int:  # noqa: ANN001
    """consent(client_secrets) -> authorized-user info; the browser flow unless a test injects one."""
    from jarvis_mcp import bootstrap

    if not client_secrets.is_file():
        print(f"jarvis-mcp: no such file: {client_secrets}", file=sys.stderr)
        return 2
    try:
        info = (consent or bootstrap.google_consent)(client_secrets)
    except ValueError as exc:
        print(f"jarvis-mcp: {exc}", file=sys.stderr)
        return 1
    runtime = bootstrap.open_runtime(settings)
    try:
        runtime.scope_for(runtime.local_user_id()).contacts.connect("google", info)
    finally:
        runtime.close()
    print(f"connected Google Contacts for user {settings.user!r}; run `jarvis-mcp sync contacts` (or the "
          "sync_contacts tool) to bring them in")
    return 0
