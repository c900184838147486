"""The commands that bring the local user's data in: import memories / documents / contacts from files,
sync contacts from a provider, connect a provider account. Like cli.py, they print their report to stdout
and their progress and problems to stderr, and return the exit status."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from jarvis_mcp.config import ConfigError, Settings

if TYPE_CHECKING:
    from jarvis_mcp.memory.service import MemoryInput


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


def import_memories(settings: Settings, path: Path) -> int:
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


_DOCUMENT_SUFFIXES = {".pdf", ".txt", ".text", ".md", ".markdown", ".mdown", ".html", ".htm", ".xhtml"}


def _document_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Files named on the command line, plus supported files inside folders. Inside folders symlinks and
    hidden entries are skipped, so an import never wanders out of the folder it was given."""
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


def import_documents(settings: Settings, paths: list[Path], tags: list[str]) -> int:
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
            head = f"\r[{bar:<30}] {n}/{len(files)} {path.name[:40]:<40}"
            print(head, end="", file=sys.stderr, flush=True)

            def step(done: int, total: int | None, message: str, head: str = head) -> None:
                # A big file is minutes of embedding: its own milestones (pages, passages) on the same line.
                print(f"{head} {message[:40]:<40}", end="", file=sys.stderr, flush=True)
            try:
                if path.stat().st_size > settings.max_document_bytes:
                    raise JarvisError(f"larger than JARVIS_MAX_DOCUMENT_BYTES ({settings.max_document_bytes})")
                title = re.sub(r"[\x00-\x1f\x7f/\\]+", " ", path.stem).strip(" .") or "document"
                try:
                    filename: str | None = clean_filename(path.name)
                except JarvisError:
                    filename = None  # derived from the title instead
                result = documents.add_bytes(path.read_bytes(), title=title[:200], filename=filename, tags=tags,
                                             progress=step)
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


def import_contacts(settings: Settings, path: Path, *, region: str | None = None, embed: bool = True) -> int:
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


def sync_contacts(settings: Settings) -> int:
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


def connect_google(settings: Settings, client_secrets: Path, consent=None) -> int:  # noqa: ANN001
    """consent(client_secrets) -> authorized-user info; Google's consent from this terminal unless a test
    injects one (it prints the address to open, and accepts the redirect or the pasted answer)."""
    from jarvis_mcp import bootstrap

    if not client_secrets.is_file():
        print(f"jarvis-mcp: no such file: {client_secrets}", file=sys.stderr)
        return 2
    from jarvis_mcp.identity.proofs import ProofError

    try:
        if consent is None:
            info = bootstrap.google_consent(client_secrets, issuer=settings.google_issuer)
        else:
            info = consent(client_secrets)
    except (ValueError, ProofError) as exc:
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
