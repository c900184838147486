"""Google on the pages: sign in with Google (OpenID Connect, code + PKCE, id_token checked by google.py),
and "connect Google" for a signed-in person (Contacts, Calendar and Gmail in one incremental consent; the
refresh token stored encrypted for that user, as `jarvis-mcp connect google` does for the stdio user)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from jarvis_mcp.config import Settings
from jarvis_mcp.identity.google import GoogleOidc, PendingAuth
from jarvis_mcp.identity.keys import digest
from jarvis_mcp.identity.pages import Pages
from jarvis_mcp.identity.proofs import ProofError
from jarvis_mcp.identity.web import CSRF_COOKIE, CsrfRefused, run, safe_next

PURPOSE = "google"
PENDING_TTL_S = 600


class GoogleRoutes:
    def __init__(self, pages: Pages, settings: Settings, issuer: str, save_credentials: Callable[[str, dict], None]) -> None:
        self.pages = pages
        self.settings = settings
        self.callback = f"{issuer}/signin/google/callback"
        self.save_credentials = save_credentials  # (user id, authorized-user info) -> stored encrypted
        self._oidc: GoogleOidc | None = None

    def routes(self) -> list[Route]:
        return [Route("/signin/google", self.start, methods=["POST"]),
                Route("/account/google/connect", self.connect, methods=["POST"]),
                Route("/signin/google/callback", self.finish, methods=["GET"])]

    def oidc(self) -> GoogleOidc:
        if self._oidc is None:  # one per process: Google's discovery document and keys are cached in it
            secret = self.settings.google_client_secret
            self._oidc = GoogleOidc(client_id=self.settings.google_client_id or "",
                                    client_secret=secret.get_secret_value() if secret else "",
                                    issuer=self.settings.google_issuer)
        return self._oidc

    def offered(self) -> bool:
        return "google" in {m.name for m in self.pages.methods()}

    async def start(self, request: Request) -> Response:
        return await self._begin(request, connect=False)

    async def connect(self, request: Request) -> Response:
        return await self._begin(request, connect=True)

    async def _begin(self, request: Request, *, connect: bool) -> Response:
        try:
            form = await self.pages.web.form(request)
        except CsrfRefused:
            return self.pages.web.refused(request)
        if not self.offered():
            return self.pages.web.message(request, "Not available", "Google sign-in is not offered here.",
                                          status=404, error=True)
        if connect and await self.pages.web.session(request) is None:
            return self.pages.web.to_signin(request)
        try:
            # Bound to this browser's CSRF cookie: a callback URL made for someone else cannot sign it in.
            url, pending = await self.oidc().start(self.callback, connect=connect,
                                                   binding=request.cookies.get(CSRF_COOKIE, ""))
        except ProofError as exc:
            return await self.pages.web.proof_failed(request, exc, status=502)
        data = json.dumps({"pending": pending.to_json(), "next": safe_next(str(form.get("next", "")))})
        now = time.time()
        await run(self.pages.store().put_sign_in_token, digest(pending.state), PURPOSE, data, now + PENDING_TTL_S, now)
        return RedirectResponse(url, status_code=303)

    async def finish(self, request: Request) -> Response:
        query = dict(request.query_params)
        stored = await run(self.pages.store().consume_sign_in_token, digest(query.get("state", "")), PURPOSE,
                           time.time())
        if stored is None:
            return await self.pages.web.proof_failed(request, ProofError(
                "this Google sign-in expired or was already used; start again"))
        data: dict[str, Any] = json.loads(stored)
        pending = PendingAuth.from_json(data["pending"])
        try:
            result = await self.oidc().finish(pending, query, binding=request.cookies.get(CSRF_COOKIE, ""))
        except ProofError as exc:
            return await self.pages.web.proof_failed(request, exc)
        response = await self.pages.complete(request, result.identity, data.get("next") or "/account/identities")
        if pending.connect and result.credentials is not None and response.status_code == 303:
            session = await self.pages.web.session(request)
            if session is not None:  # complete() linked Google to this account, so it is theirs to store
                await run(self.save_credentials, session.user_id, result.credentials)
        return response
