"""`jarvis-mcp connect google` in a terminal: Google's consent for the local user, browser or not.

The installed-app flow (RFC 8252): a one-shot HTTP listener on 127.0.0.1 receives Google's redirect. The
address to open is always printed (to stderr: stdout may be a pipe), a browser is started only where one
can start, and the person may instead paste the address their browser ended on (or just the code) —
the way to finish when the browser runs on another machine than this terminal (SSH, a container), where
the redirect to 127.0.0.1 cannot arrive. Whichever comes first wins.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import sys
import threading
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TextIO
from urllib.parse import parse_qsl, urlsplit

from jarvis_mcp.identity.google import GOOGLE_ISSUER, GoogleOidc, GoogleResult

TIMEOUT_S = 600.0
_DONE_PAGE = (b"<!doctype html><meta charset=utf-8><title>JARVIS</title>"
              b"<p>Google answered. You can close this tab and go back to the terminal.</p>")


def client_from_secrets(path: Path) -> tuple[str, str]:
    """(client_id, client_secret) of a Google OAuth client JSON ("Desktop app", or a web client)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the OAuth client file {path}: {exc}") from None
    section = (data.get("installed") or data.get("web")) if isinstance(data, dict) else None
    if not isinstance(section, dict) or not section.get("client_id") or not section.get("client_secret"):
        raise ValueError(f"{path} is not a Google OAuth client file (expected installed.client_id and "
                         "client_secret; download it from the Google Cloud console, Credentials, Desktop app)")
    return str(section["client_id"]), str(section["client_secret"])


def browser_available() -> bool:
    """Only where a window can open: on a Linux console webbrowser would start a text browser in this terminal."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _open_browser(url: str) -> bool:
    if not browser_available():
        return False
    try:
        return webbrowser.open(url, new=1)
    except webbrowser.Error:  # "could not locate runnable browser": the address is printed anyway
        return False


def _listener(answers: queue.Queue[str]) -> ThreadingHTTPServer:
    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            query = urlsplit(self.path).query
            if "state=" not in query:  # a favicon or a stray request, not Google's answer
                self.send_error(404)
                return
            answers.put(f"http://127.0.0.1{self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(_DONE_PAGE)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # the query holds the code: never logged

    return ThreadingHTTPServer(("127.0.0.1", 0), Redirect)


def _read_pasted(read_line: Callable[[], str], answers: queue.Queue[str]) -> None:
    while True:
        line = read_line()
        if not line:  # end of input (no terminal): keep waiting for the redirect alone
            return
        if line.strip():
            answers.put(line.strip())
            return


def _query(answer: str, state: str) -> dict[str, str]:
    if "://" in answer or answer.startswith("/?") or answer.startswith("?"):
        return dict(parse_qsl(urlsplit(answer).query or answer.lstrip("/?")))
    # A bare code typed into our own terminal: nobody else could have put it there, so it is this state's.
    return {"code": answer, "state": state}


def consent_in_terminal(oidc: GoogleOidc, *, err: TextIO, read_line: Callable[[], str],
                        open_browser: Callable[[str], bool] = _open_browser, timeout_s: float = TIMEOUT_S) -> GoogleResult:
    """Run the consent; the connected account with its credentials, or ProofError / ValueError."""
    answers: queue.Queue[str] = queue.Queue()
    server = _listener(answers)
    threading.Thread(target=server.serve_forever, name="google-redirect", daemon=True).start()
    try:
        url, pending = asyncio.run(oidc.start(f"http://127.0.0.1:{server.server_port}/", connect=True))
        # Everything goes to `err` (stderr): stdout belongs to the command's result.
        err.write(f"\nTo connect Google (Contacts, Calendar, Gmail), open this address in a browser:\n\n  {url}\n\n")
        if not open_browser(url):
            err.write("No browser could be started here: open it on any device signed in to your Google account.\n")
        err.write("Waiting for Google. If the browser runs on another machine, it ends on an address that does not load"
                  " (http://127.0.0.1:...): paste that whole address here and press Enter.\n")
        err.flush()
        # A daemon thread: a person who never types leaves it blocked on input, and the process still exits.
        threading.Thread(target=_read_pasted, args=(read_line, answers), name="google-paste", daemon=True).start()
        try:
            answer = answers.get(timeout=timeout_s)
        except queue.Empty:
            raise ValueError(f"no answer from Google within {int(timeout_s // 60)} minutes; run the command "
                             "again") from None
    finally:
        server.shutdown()
        server.server_close()
    return asyncio.run(oidc.finish(pending, _query(answer, pending.state)))


def connect_from_terminal(client_secrets: Path, *, issuer: str = GOOGLE_ISSUER) -> dict[str, object]:
    """`jarvis-mcp connect google`: the authorized-user info to store for the local user."""
    client_id, client_secret = client_from_secrets(client_secrets)
    oidc = GoogleOidc(client_id=client_id, client_secret=client_secret, issuer=issuer)
    result = consent_in_terminal(oidc, err=sys.stderr, read_line=sys.stdin.readline)
    assert result.credentials is not None  # connect=True: finish() refuses an answer without a refresh token
    who = result.identity.email or result.identity.display_name or "your account"
    sys.stderr.write(f"Google answered for {who}.\n")
    for scope in result.missing_scopes:
        sys.stderr.write(f"  not granted: {scope} (that feature stays off until you connect again)\n")
    return result.credentials


__all__ = ["browser_available", "client_from_secrets", "connect_from_terminal", "consent_in_terminal"]
