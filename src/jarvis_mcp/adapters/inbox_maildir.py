"""The local inbox: a Maildir folder or an mbox file the person points JARVIS_INBOX at (stdlib `mailbox`).

Read-only except for drafts. Unread is the Maildir "S" (seen) flag missing, or, in an mbox, no "R" in the
Status header (what mutt, Thunderbird and Dovecot write). A Maildir draft goes into the Maildir++ `.Drafts`
subfolder with the "D" flag, where Thunderbird, mutt and Dovecot-served apps show it; an mbox file has
no drafts folder, so draft_email refuses there rather than invent one.

Every search reads the folder (headers first, bodies only when the query needs them): fine for a personal
folder of thousands of messages; tools/bench_inbox.py measures it.
"""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from jarvis_mcp.inbox.parse import (
    head_date,
    head_of,
    head_passes,
    letter,
    newest_first,
    query_terms,
    words_match,
)
from jarvis_mcp.inbox.ports import DraftSaved, InboxError, Letter, SearchQuery

_PARSER = BytesParser(policy=policy.default)
_COLON = mailbox.Maildir.colon  # ":" between a Maildir key and its flags


class _LocalInbox:
    provider = "local"

    def _scan(self) -> Iterator[tuple[str, bytes, bool]]:
        """(key, raw bytes, unread) of every message; OSError when the folder cannot be read at all."""
        raise NotImplementedError

    def _one(self, key: str) -> tuple[bytes, bool] | None:
        raise NotImplementedError

    def search(self, query: SearchQuery) -> list[Letter]:
        """Headers of every message (the filters and the order), then, newest first, bodies only while
        fewer than `limit` have matched the words; a full parse only for what is returned."""
        terms = query_terms(query.text)
        candidates = []
        try:
            for key, raw, unread in self._scan():
                head = head_of(raw)
                if head_passes(head, query, unread=unread):
                    candidates.append((head_date(head), (key, raw, unread)))
        except OSError as exc:
            raise InboxError(f"cannot read the mail folder ({exc.strerror or exc})") from None
        found = []
        for key, raw, unread in newest_first(candidates):
            if len(found) >= query.limit:
                break
            if words_match(raw, terms):
                found.append(letter(key, _PARSER.parsebytes(raw), unread=unread, full=False))  # type: ignore[arg-type]
        return found

    def fetch(self, key: str) -> Letter | None:
        try:
            got = self._one(key)
        except (KeyError, ValueError, OSError):
            return None
        if got is None:
            return None
        raw, unread = got
        return letter(key, _PARSER.parsebytes(raw), unread=unread, full=True)  # type: ignore[arg-type]


class MaildirInbox(_LocalInbox):
    provider = "maildir"

    def __init__(self, path: Path) -> None:
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise InboxError(f"{path} is not a Maildir folder (it needs cur/ and new/ subfolders)")
        self.path = path
        self.box = mailbox.Maildir(path, factory=None, create=False)  # for drafts

    def _files(self) -> Iterator[tuple[str, Path, bool]]:
        """Listed directly: a message in new/ is unread, one in cur/ unless its name's flags hold "S"
        (key:2,FLAGS). Dot files are being written or are not mail."""
        for sub in ("new", "cur"):
            with os.scandir(self.path / sub) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_file():
                        continue
                    key, _, info = entry.name.partition(_COLON)
                    unread = sub == "new" or "S" not in (info[2:] if info.startswith("2,") else "")
                    yield key, Path(entry.path), unread

    def _scan(self) -> Iterator[tuple[str, bytes, bool]]:
        for key, path, unread in self._files():
            try:
                raw = path.read_bytes()
            except FileNotFoundError:  # moved (read, deleted) while we listed
                continue
            yield key, raw, unread

    def _one(self, key: str) -> tuple[bytes, bool] | None:
        # Maildir keys are file names: anything with a path separator or a leading dot is no key here.
        if not key or "/" in key or key.startswith(".") or _COLON in key:
            return None
        for found, path, unread in self._files():
            if found == key:
                return path.read_bytes(), unread
        return None

    def save_draft(self, message: EmailMessage, *, thread: str | None) -> DraftSaved:
        try:
            drafts = self.box.get_folder("Drafts") if "Drafts" in self.box.list_folders() \
                else self.box.add_folder("Drafts")
            draft = mailbox.MaildirMessage(message.as_bytes(policy=policy.SMTP))
            draft.set_subdir("cur")
            draft.set_flags("DS")  # a draft, and seen: it is the person's own
            key = drafts.add(draft)
        except OSError as exc:
            raise InboxError(f"cannot write the draft into {self.path}/.Drafts ({exc.strerror or exc})") from None
        return DraftSaved(key=key, where=f"the Drafts folder of the mail folder {self.path}")


class MboxInbox(_LocalInbox):
    provider = "mbox"

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise InboxError(f"{path} is not an mbox file")
        self.path = path

    def _open(self) -> Any:
        # Opened per call: mbox keeps its table of contents from the first read, and mail is appended.
        return mailbox.mbox(self.path, factory=None, create=False)

    def _scan(self) -> Iterator[tuple[str, bytes, bool]]:
        box = self._open()
        for key in box.iterkeys():
            raw = box.get_bytes(key)
            yield str(key), raw, self._unread(raw)

    def _one(self, key: str) -> tuple[bytes, bool] | None:
        if not key.isdigit():
            return None
        raw = self._open().get_bytes(int(key))
        return raw, self._unread(raw)

    @staticmethod
    def _unread(raw: bytes) -> bool:
        return "R" not in str(head_of(raw).get("Status") or "")

    def save_draft(self, message: EmailMessage, *, thread: str | None) -> DraftSaved:
        raise InboxError(f"the inbox is the mbox file {self.path}, which has no drafts folder; point JARVIS_INBOX "
                         "at a Maildir (maildir:PATH) or Gmail to save drafts, or send the email with send_email")
