"""The pages a person sees: /signin (every configured method), the email link, /consent (naming the client
and where it sends you back), /account/identities (link and unlink), /signout."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature
from mcp.server.auth.provider import construct_redirect_uri
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from jarvis_mcp.identity.email_link import EmailLinks
from jarvis_mcp.identity.keys import digest, new_secret
from jarvis_mcp.identity.methods import Method
from jarvis_mcp.identity.ports import GrantRecord, SignInStore
from jarvis_mcp.identity.proofs import ProofError
from jarvis_mcp.identity.provider import CODE_TTL_S, JarvisAuthProvider
from jarvis_mcp.identity.service import SignInService, mask
from jarvis_mcp.identity.web import SESSION_COOKIE, CsrfRefused, Web, run, safe_next

SCOPE_WORDS = {"jarvis:read": "read your memories, contacts, documents and calendar",
               "jarvis:write": "save, send, schedule and call on your behalf"}


class Pages:
    def __init__(self, web: Web, provider: JarvisAuthProvider, store: Callable[[], SignInStore],
                 links: Callable[[], EmailLinks], methods: Callable[[], list[Method]],
                 extra_context: Callable[[Request, str], dict[str, Any]]) -> None:
        self.web = web
        self.provider = provider
        self.store = store
        self.links = links
        self.methods = methods
        self.extra_context = extra_context  # a method's own bits of the sign-in page (Telegram's widget)

    def routes(self) -> list[Route]:
        return [
            Route("/signin", self.signin, methods=["GET"]),
            Route("/signin/email", self.email_send, methods=["POST"]),
            Route("/signin/email/verify", self.email_confirm, methods=["GET"]),
            Route("/signin/email/verify", self.email_verify, methods=["POST"]),
            Route("/consent", self.consent, methods=["GET"]),
            Route("/consent", self.decide, methods=["POST"]),
            Route("/account/identities", self.identities, methods=["GET"]),
            Route("/account/identities/unlink", self.unlink, methods=["POST"]),
            Route("/signout", self.signout, methods=["POST"]),
        ]

    async def signin(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        session = await self.web.session(request)
        next_url = safe_next(request.query_params.get("next"))
        return self.web.render(request, "signin.html", status, methods=self.methods(), next=next_url,
                               signed_in=session is not None, error=error,
                               **self.extra_context(request, next_url))

    # -- email -----------------------------------------------------------------------------------

    async def email_send(self, request: Request) -> Response:
        try:
            form = await self.web.form(request)
        except CsrfRefused:
            return self.web.refused(request)
        if "email" not in {m.name for m in self.methods()}:
            return self.web.message(request, "Not available", "Email sign-in is not offered here.", status=404,
                                    error=True)
        client_ip = request.client.host if request.client else "unknown"
        session = await self.web.session(request)
        try:
            sent = await run(self.links().send, str(form.get("email", "")), client_ip,
                             safe_next(str(form.get("next", ""))), session.user_id if session else None)
        except ProofError as exc:
            status = 429 if "too many" in str(exc) else 400
            return self.web.message(request, "Sign-in refused", str(exc), status=status, error=True, back="/signin")
        return self.web.message(request, "Check your email",
                                f"We sent a sign-in link to {sent.address}. It works once, for 10 minutes.",
                                outbox_path=str(sent.outbox_path) if sent.outbox_path else None)

    async def email_confirm(self, request: Request) -> Response:
        # A GET never signs in: mail scanners open links. The button below does, with a CSRF token.
        return self.web.render(request, "email_confirm.html", token=request.query_params.get("token", ""))

    async def email_verify(self, request: Request) -> Response:
        try:
            form = await self.web.form(request)
            proven, next_url, requested_by = await run(self.links().verify, str(form.get("token", "")))
        except CsrfRefused:
            return self.web.refused(request)
        except ProofError as exc:
            return await self.web.proof_failed(request, exc)
        # A link links only for the signed-in person who asked for it; anyone else is signed in as the address.
        session = await self.web.session(request)
        link = session is not None and session.user_id == requested_by
        return await self.complete(request, proven, next_url, link=link)

    async def complete(self, request: Request, proven: Any, next_url: str, *, link: bool = True) -> Response:
        """Every method ends here with its ProvenIdentity: sign in (or, signed in and `link`, link it to the
        account), set the session, go on."""
        session = await self.web.session(request) if link else None
        try:
            signed = await run(SignInService(self.store()).sign_in, proven, session.user_id if session else None)
        except ProofError as exc:
            return await self.web.proof_failed(request, exc, status=409)
        return await self.web.signed_in(request, signed, next_url)

    # -- consent ---------------------------------------------------------------------------------

    async def _request(self, request_id: str) -> GrantRecord | None:
        return await run(self.store().get_grant, digest(request_id), "request", time.time()) if request_id else None

    async def consent(self, request: Request) -> Response:
        request_id = request.query_params.get("request", "")
        grant = await self._request(request_id)
        if grant is None:
            return self.web.message(request, "Request expired", "This sign-in request is unknown or has "
                                    "expired; start again from your app.", status=400, error=True)
        session = await self.web.session(request)
        if session is None:
            return self.web.to_signin(request)
        client = await self.provider.get_client(grant.client_id)
        if client is None:
            return self.web.message(request, "Unknown app", "The app asking for access can no longer be found.",
                                    status=400, error=True)
        data = json.loads(grant.data)
        return self.web.render(request, "consent.html", client_name=client.client_name or grant.client_id,
                               client_id=grant.client_id,
                               redirect_host=urlsplit(data["redirect_uri"]).netloc,
                               scopes="; ".join(SCOPE_WORDS.get(s, s) for s in data["scopes"]) or "nothing",
                               request_id=request_id)

    async def decide(self, request: Request) -> Response:
        try:
            form = await self.web.form(request)
        except CsrfRefused:
            return self.web.refused(request)
        session = await self.web.session(request)
        if session is None:
            return self.web.message(request, "Signed out", "Sign in again and start over from your app.",
                                    status=401, error=True)
        now = time.time()
        grant = await run(self.store().consume_grant, digest(str(form.get("request", ""))), "request", now)
        if grant is None:
            return self.web.message(request, "Request expired", "This request was already answered or has "
                                    "expired; start again from your app.", status=400, error=True)
        data = json.loads(grant.data)
        approve = form.get("decision") == "approve"
        await run(self.provider.audit, session.user_id, "oauth:consent",
                  {"client_id": grant.client_id, "decision": "approve" if approve else "deny"})
        if not approve:
            target = construct_redirect_uri(data["redirect_uri"], error="access_denied", state=data["state"],
                                            iss=self.provider.issuer)
            return RedirectResponse(target, status_code=303)
        code = new_secret("jac_")
        await run(self.store().put_grant, GrantRecord(digest(code), "code", grant.client_id, session.user_id,
                                                      grant.data, now + CODE_TTL_S))
        # RFC 9207: `iss` tells the client which server answered, against mix-up attacks.
        target = construct_redirect_uri(data["redirect_uri"], code=code, state=data["state"], iss=self.provider.issuer)
        return RedirectResponse(target, status_code=303)

    # -- identities ------------------------------------------------------------------------------

    async def identities(self, request: Request, error: str | None = None, notice: str | None = None,
                         status: int = 200) -> Response:
        session = await self.web.session(request)
        if session is None:
            return self.web.to_signin(request)
        found = await run(self.store().list_identities, session.user_id)
        rows = [{"method": i.auth_method, "masked": mask(i), "ref": self.web.refs.dumps([i.issuer, i.subject]),
                 "linked": datetime.fromtimestamp(i.created_at, UTC).strftime("%Y-%m-%d")} for i in found]
        return self.web.render(request, "identities.html", status, identities=rows, error=error, notice=notice,
                               google="google" in {m.name for m in self.methods()})

    async def unlink(self, request: Request) -> Response:
        try:
            form = await self.web.form(request)
            issuer, subject = self.web.refs.loads(str(form.get("ref", "")))
        except (CsrfRefused, BadSignature, ValueError):
            return self.web.refused(request)
        session = await self.web.session(request)
        if session is None:
            return self.web.to_signin(request)
        try:
            await run(SignInService(self.store()).unlink, session.user_id, issuer, subject)
        except ProofError as exc:
            return await self.identities(request, error=str(exc), status=409)
        return await self.identities(request, notice="Unlinked.")

    async def signout(self, request: Request) -> Response:
        try:
            await self.web.form(request)
        except CsrfRefused:
            return self.web.refused(request)
        session = await self.web.session(request)
        if session is not None:
            await run(SignInService(self.store()).sign_out, request.cookies.get(SESSION_COOKIE, ""), session.user_id)
        response = RedirectResponse("/signin", status_code=303)
        self.web.clear_session(response)
        return response
