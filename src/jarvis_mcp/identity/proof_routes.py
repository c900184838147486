"""The routes of the methods that prove an identity with a provider's signature: a wallet's (SIWE) and
Telegram's Login Widget. Each ends in Pages.complete with the ProvenIdentity its verifier returned."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from jarvis_mcp.config import Settings
from jarvis_mcp.identity import siwe, telegram
from jarvis_mcp.identity.email_link import PER_IP
from jarvis_mcp.identity.pages import Pages
from jarvis_mcp.identity.proofs import ProofError
from jarvis_mcp.identity.service import SignInService
from jarvis_mcp.identity.web import CsrfRefused, run, safe_next

NONCE_TTL_S = 600
_PAGE_FIELDS = {"csrf_token", "next"}
_STATIC = {"wallet.js", "telegram.js"}


class ProofRoutes:
    def __init__(self, pages: Pages, settings: Settings, issuer: str, limiter: Any) -> None:
        self.pages = pages
        self.settings = settings
        self.issuer = issuer
        self.limiter = limiter

    def routes(self) -> list[Route]:
        return [Route("/signin/static/{name}", self.static, methods=["GET"]),
                Route("/signin/wallet/message", self.wallet_message, methods=["POST"]),
                Route("/signin/wallet", self.wallet, methods=["POST"]),
                Route("/signin/telegram", self.telegram, methods=["POST"])]

    def offered(self, name: str) -> bool:
        return name in {m.name for m in self.pages.methods()}

    def context(self, request: Request, next_url: str) -> dict[str, Any]:
        if not self.offered("telegram") or not self.settings.telegram_bot_name:
            return {}
        try:
            return {"telegram_widget": telegram.widget_script_tag(self.settings.telegram_bot_name,
                                                                  on_auth="jarvisTelegram")}
        except ValueError:
            return {}

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return PlainTextResponse("not found", status_code=404)
        text = files("jarvis_mcp.identity").joinpath("templates", name).read_text(encoding="utf-8")
        return PlainTextResponse(text, media_type="text/javascript", headers={"Cache-Control": "max-age=300"})

    # -- wallet ----------------------------------------------------------------------------------

    async def wallet_message(self, request: Request) -> Response:
        """The exact EIP-4361 message for this address, bound to this site and a fresh single-use nonce."""
        try:
            form = await self.pages.web.form(request)
        except CsrfRefused:
            return JSONResponse({"error": "refused: reload the page"}, status_code=403)
        if not self.offered("wallet"):
            return JSONResponse({"error": "wallet sign-in is not offered here"}, status_code=404)
        client_ip = request.client.host if request.client else "unknown"
        if not (await run(self.limiter.hit, f"ip:{client_ip}", "signin_nonce", 1, PER_IP)).allowed:
            return JSONResponse({"error": "too many sign-in attempts; wait a minute"}, status_code=429)
        service = SignInService(self.pages.store())
        nonce = await run(service.new_nonce, "nonce:wallet", "{}", NONCE_TTL_S)
        parts = urlsplit(self.issuer)
        try:
            message = siwe.make_message(parts.netloc, self.issuer, str(form.get("address", "")), nonce,
                                        self.settings.siwe_chain_id, datetime.now(UTC),
                                        statement="Sign in to JARVIS.")
        except ValueError as exc:
            return JSONResponse({"error": f"address: {exc}"}, status_code=400)
        return JSONResponse({"message": message, "nonce": nonce})

    async def wallet(self, request: Request) -> Response:
        try:
            form = await self.pages.web.form(request)
        except CsrfRefused:
            return self.pages.web.refused(request)
        if not self.offered("wallet"):
            return self.pages.web.message(request, "Not available", "Wallet sign-in is not offered here.",
                                          status=404, error=True)
        service = SignInService(self.pages.store())

        def check() -> Any:
            # A browser submitting a form turns every line break into CRLF (HTML's form encoding); the
            # wallet signed the message with LF, as EIP-4361 writes it (found by tests/e2e in Chromium).
            message = str(form.get("message", "")).replace("\r\n", "\n")
            return siwe.verify(message, str(form.get("signature", "")),
                               domain=urlsplit(self.issuer).netloc, uri=self.issuer,
                               chain_id=self.settings.siwe_chain_id, now=datetime.now(UTC),
                               consume_nonce=lambda n: service.use_nonce("nonce:wallet", n) is not None)

        try:
            proven = await run(check)
        except ProofError as exc:
            return await self.pages.web.proof_failed(request, exc)
        return await self.pages.complete(request, proven, safe_next(str(form.get("next", ""))))

    # -- telegram --------------------------------------------------------------------------------

    async def telegram(self, request: Request) -> Response:
        try:
            form = await self.pages.web.form(request)
        except CsrfRefused:
            return self.pages.web.refused(request)
        token = self.settings.telegram_bot_token
        if not self.offered("telegram") or token is None:
            return self.pages.web.message(request, "Not available", "Telegram sign-in is not offered here.",
                                          status=404, error=True)
        fields = {k: str(v) for k, v in form.items() if k not in _PAGE_FIELDS}
        service = SignInService(self.pages.store())
        # A signed payload works once: a copy of it (from a log, a shared screen) signs no one in later.
        check = functools.partial(telegram.verify, fields, bot_token=token.get_secret_value(),
                                  now=datetime.now(UTC).timestamp(), max_age_s=3600,
                                  consume_hash=lambda h: service.claim_once("telegram", h, 3600))
        try:
            proven = await run(check)
        except ProofError as exc:
            return await self.pages.web.proof_failed(request, exc)
        return await self.pages.complete(request, proven, safe_next(str(form.get("next", ""))))
