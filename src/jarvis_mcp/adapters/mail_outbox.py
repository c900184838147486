"""The default Mailer: nothing leaves the machine. Each message is kept as a real RFC 5322 .eml file under
JARVIS_HOME/outbox/<user uuid>/<action id>.eml, and the receipt says plainly that it was not delivered
(like a web framework's file email backend)."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

from jarvis_mcp.mail.ports import MailReceipt

NOT_DELIVERED = "no mail provider configured; the message was kept in the local outbox"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class OutboxMailer:
    provider = "outbox"
    #: Sending with the same key again is harmless (the file is kept once): an interrupted send may be redone.
    idempotent = True

    def __init__(self, home: Path, user_id: str) -> None:
        # The user id is a UUID the server resolved, checked here anyway: it names a folder.
        self.folder = home / "outbox" / str(uuid.UUID(user_id))
        self.home = home

    def _path(self, key: str) -> Path:
        if not _SAFE_KEY.match(key):
            raise ValueError("idempotency key unusable as a file name")
        return self.folder / f"{key}.eml"

    def _receipt(self, path: Path) -> MailReceipt:
        return MailReceipt(provider=self.provider, provider_ref=path.relative_to(self.home).as_posix(),
                           delivered=False, detail=NOT_DELIVERED)

    def send(self, message: EmailMessage, *, idempotency_key: str) -> MailReceipt:
        path = self._path(idempotency_key)
        if path.exists():  # the same action again: already kept, keep the first copy
            return self._receipt(path)
        self.folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # owner-only, whatever the umask
        self.folder.mkdir(exist_ok=True, mode=0o700)
        data = message.as_bytes(policy=policy.SMTP)  # CRLF line endings, as on the wire
        # Written to a temporary name and renamed: a crash leaves either the whole message or none.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self._receipt(path)

    def find_sent(self, message_id: str) -> str | None:
        """Our Message-IDs are <action id@...>: the file is named after that id; its header must agree."""
        local = message_id.strip("<>").partition("@")[0]
        try:
            path = self._path(local)
        except ValueError:
            return None
        if not path.is_file():
            return None
        with path.open("rb") as fh:
            headers = BytesHeaderParser(policy=policy.default).parse(fh)
        return self._receipt(path).provider_ref if headers.get("Message-ID", "").strip() == message_id else None
