"""Who is looking at /app, and how its pages are rendered: the sign-in session (identity's cookie and CSRF
check, reused as is), or, on a loopback server with no sign-in at all, the single local user."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from jarvis_mcp.config import Settings
from jarvis_mcp.identity.keys import server_key
from jarvis_mcp.identity.service import SignInService
from jarvis_mcp.identity.web import CsrfRefused, Web, run
from jarvis_mcp.runtime import SharedRuntime
from jarvis_mcp.scope import UserScope
from jarvis_mcp.web import is_loopback

__all__ = ["AppWeb", "CsrfRefused", "run"]

NAV = (("/app", "Home"), ("/app/activity", "Activity"), ("/app/approvals", "Approvals"), ("/app/memories", "Memories"),
       ("/app/documents", "Documents"), ("/app/contacts", "Contacts"), ("/app/connections", "Connections"))
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


class AppWeb:
    """One per server: the templates, the session lookup and each request's UserScope."""

    def __init__(self, shared: SharedRuntime, settings: Settings, *, read_only: bool = False) -> None:
        self.shared = shared
        self.settings = settings
        self.read_only = read_only
        # Identity's Web over the same key: its CSRF tokens and session cookie are the sign-in pages' own.
        secure = not is_loopback(urlsplit(settings.public_url or "http://127.0.0.1").hostname or "")
        self.web = Web(server_key(settings), secure=secure, service=lambda: SignInService(shared.runtime.store))
        self.web.env = self.env = Environment(loader=PackageLoader("jarvis_mcp.webapp", "templates"),
                                              autoescape=select_autoescape(default=True, default_for_string=True))

    @property
    def local_mode(self) -> bool:
        """No sign-in and no tokens: check_binding allowed only loopback, and every caller is the local user."""
        return not self.settings.auth_enabled

    async def user_id(self, request: Request) -> str | None:
        if self.local_mode:
            # Loopback only, by the peer and by the Host it asked for (a DNS-rebound page names another host).
            peer = request.client.host if request.client else ""
            host = (request.url.hostname or "").strip("[]")
            if not (is_loopback(peer) and is_loopback(host)):
                return None
            return await run(self.shared.runtime.local_user_id)
        if not self.settings.sign_in:
            return None  # bearer tokens only: a browser has no way to sign in here
        session = await self.web.session(request)
        return session.user_id if session else None

    def scope(self, user_id: str) -> UserScope:
        return self.shared.runtime.scope_for(user_id)

    def denied(self, request: Request) -> Response:
        if self.local_mode or not self.settings.sign_in:
            return self.message(request, "Not available", "This page needs sign-in: set JARVIS_SIGN_IN, or serve "
                                "on 127.0.0.1 without tokens to be the local user.", status=403)
        return self.web.to_signin(request)

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        # Identity's render sets the CSRF cookie when missing and signs the token over it.
        response = self.web.render(request, f"webapp/{template}", status, nav=NAV, path=request.url.path,
                                   read_only=self.read_only, sign_in=bool(self.settings.sign_in), **context)
        # Only this server's own files run or style the page: stored text can never bring a script in.
        response.headers["Content-Security-Policy"] = CSP
        return response

    def message(self, request: Request, title: str, message: str, *, status: int = 200,
                back: str | None = None) -> HTMLResponse:
        return self.render(request, "message.html", status, title=title, message=message, error=status >= 400,
                           back=back)

    def refused(self, request: Request) -> HTMLResponse:
        return self.message(request, "Refused", "This form expired or did not come from this site; go back, "
                            "reload the page and try again.", status=403)

    async def form(self, request: Request) -> Any:
        return await self.web.form(request)

    @staticmethod
    def back_to(path: str) -> RedirectResponse:
        # Post/redirect/get: a reload never repeats a deletion.
        return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})
