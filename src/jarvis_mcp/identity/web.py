"""What every sign-in page shares: templates, the CSRF check, the session cookie, safe redirects."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import anyio.to_thread
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from jarvis_mcp.identity.ports import SessionRecord
from jarvis_mcp.identity.proofs import ProofError
from jarvis_mcp.identity.service import SignedIn, SignInService

T = TypeVar("T")

CSRF_COOKIE = "jarvis_csrf"
SESSION_COOKIE = "jarvis_session"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE_S = 4 * 3600
HOME = "/account/identities"
_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff"}


class CsrfRefused(Exception):
    pass


def safe_next(value: str | None) -> str:
    """A path on this server only: never a redirect elsewhere (//host, /\\host, a scheme)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n\\"):
        return HOME
    parts = urlsplit(value)
    return HOME if parts.scheme or parts.netloc else value


async def run(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args)


class Web:
    def __init__(self, key: bytes, *, secure: bool, service: Callable[[], SignInService]) -> None:
        self.env = Environment(loader=PackageLoader("jarvis_mcp.identity", "templates"),
                               autoescape=select_autoescape(default=True, default_for_string=True))
        self.csrf = URLSafeTimedSerializer(key, salt="jarvis-csrf")
        self.refs = URLSafeSerializer(key, salt="jarvis-identity-ref")
        self.secure = secure  # cookies Secure everywhere but loopback (a browser refuses them over http)
        self.service = service

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = not cookie
        cookie = cookie or secrets.token_urlsafe(24)
        html = self.env.get_template(template).render(csrf=self.csrf.dumps(cookie), **context)
        response = HTMLResponse(html, status_code=status, headers=_HEADERS)
        if fresh:
            self._cookie(response, CSRF_COOKIE, cookie, max_age=None)
        return response

    def message(self, request: Request, title: str, message: str, *, status: int = 200, error: bool = False,
                **context: Any) -> HTMLResponse:
        return self.render(request, "message.html", status, title=title, message=message, error=error, **context)

    def refused(self, request: Request) -> HTMLResponse:
        return self.message(request, "Refused", "This form expired or did not come from this site; go back, "
                            "reload the page and try again.", status=403, error=True)

    async def form(self, request: Request) -> FormData:
        """The POSTed form, after its CSRF token: signed by this server over the browser's CSRF cookie."""
        form = await request.form()
        cookie = request.cookies.get(CSRF_COOKIE)
        token = form.get(CSRF_FIELD)
        if not cookie or not isinstance(token, str):
            raise CsrfRefused()
        try:
            signed = self.csrf.loads(token, max_age=CSRF_MAX_AGE_S)
        except BadSignature:
            raise CsrfRefused() from None
        if not isinstance(signed, str) or not hmac.compare_digest(signed, cookie):
            raise CsrfRefused()
        return form

    def check_query_csrf(self, request: Request) -> None:
        """The same check for a GET that a provider's widget sends back (the token rode in its URL)."""
        cookie, token = request.cookies.get(CSRF_COOKIE), request.query_params.get(CSRF_FIELD)
        try:
            ok = bool(cookie and token) and hmac.compare_digest(self.csrf.loads(token, max_age=CSRF_MAX_AGE_S), cookie)
        except BadSignature:
            ok = False
        if not ok:
            raise CsrfRefused()

    async def session(self, request: Request) -> SessionRecord | None:
        return await run(self.service().session_user, request.cookies.get(SESSION_COOKIE))

    def to_signin(self, request: Request) -> RedirectResponse:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(path, safe='')}", status_code=303, headers=_HEADERS)

    async def signed_in(self, request: Request, signed: SignedIn, next_url: str) -> Response:
        response = RedirectResponse(safe_next(next_url), status_code=303, headers=_HEADERS)
        self._cookie(response, SESSION_COOKIE, signed.session, max_age=12 * 3600)
        return response

    async def proof_failed(self, request: Request, exc: ProofError, status: int = 400) -> HTMLResponse:
        return self.message(request, "Sign-in refused", str(exc), status=status, error=True, back="/signin")

    def _cookie(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                            secure=self.secure)

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure)
