"""Everything JARVIS_SIGN_IN switches on, assembled for server.py: the SDK's authorization-server routes
(with the metadata this server adds: Client ID Metadata Documents, RFC 9207 `iss`, public clients), the
sign-in pages, and the verifier of the tokens it issues (next to the HS256 / JWKS ones, if configured)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.handlers.metadata import MetadataHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.provider import AccessToken, TokenVerifier, construct_redirect_uri
from mcp.server.auth.routes import build_metadata, cors_middleware, create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import OAuthMetadata
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jarvis_mcp.config import Settings
from jarvis_mcp.identity.clients import MetadataDocuments, refusal
from jarvis_mcp.identity.email_link import MAILBOX_ID, EmailLinks
from jarvis_mcp.identity.google_routes import GoogleRoutes
from jarvis_mcp.identity.keys import server_key
from jarvis_mcp.identity.methods import offered
from jarvis_mcp.identity.pages import Pages
from jarvis_mcp.identity.proof_routes import ProofRoutes
from jarvis_mcp.identity.provider import ACCESS_PREFIX, JarvisAuthProvider, same_resource
from jarvis_mcp.identity.scopes import SCOPES
from jarvis_mcp.identity.service import SignInService
from jarvis_mcp.identity.web import Web
from jarvis_mcp.runtime import SharedRuntime

METADATA_PATH = "/.well-known/oauth-authorization-server"
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass
class Identity:
    issuer: str
    provider: JarvisAuthProvider
    verifier: TokenVerifier
    routes: list[Route]


class SignInVerifier(TokenVerifier):
    """Our own opaque tokens by their prefix, anything else by the JWT verifier (when one is configured)."""

    def __init__(self, provider: JarvisAuthProvider, jwt: TokenVerifier | None) -> None:
        self.provider = provider
        self.jwt = jwt

    async def verify_token(self, token: str) -> AccessToken | None:
        if token.startswith(ACCESS_PREFIX):
            return await self.provider.load_access_token(token)
        return await self.jwt.verify_token(token) if self.jwt else None


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def build_identity(shared: SharedRuntime, settings: Settings, resource_url: str, jwt: TokenVerifier | None) -> Identity:
    issuer = origin(resource_url)

    def store() -> Any:
        return shared.runtime.store

    provider = JarvisAuthProvider(store, issuer=issuer, resource=resource_url,
                                  documents=MetadataDocuments(allow_loopback=settings.oauth_allow_loopback_client_metadata))
    web = Web(server_key(settings), secure=urlsplit(issuer).hostname not in _LOOPBACK,
              service=lambda: SignInService(store()))

    def links() -> EmailLinks:
        runtime = shared.runtime
        assert runtime.mailers is not None and runtime.limiter is not None  # bootstrap always sets both
        mailers = runtime.mailers
        sender = settings.smtp_from or f"JARVIS <no-reply@{urlsplit(issuer).hostname or 'localhost'}>"
        return EmailLinks(runtime.store, runtime.limiter, lambda: mailers(MAILBOX_ID, lambda: None), issuer=issuer,
                          sender=sender, home=settings.home)

    proofs: list[ProofRoutes] = []
    pages = Pages(web, provider, store, links, lambda: offered(settings),
                  lambda request, next_url: proofs[0].context(request, next_url))
    proofs.append(ProofRoutes(pages, settings, issuer, _Limiter(shared)))

    def save_google(user_id: str, info: dict[str, object]) -> None:
        # Through the contacts service: it also forgets the sync position of a previously connected account.
        shared.runtime.scope_for(user_id).contacts.connect("google", info)

    google = GoogleRoutes(pages, settings, issuer, save_google)
    return Identity(issuer, provider, SignInVerifier(provider, jwt),
                    [*_oauth_routes(provider, issuer, web), *pages.routes(), *proofs[0].routes(), *google.routes()])


class _Limiter:
    """The runtime's limiter, looked up when used (the runtime opens after the routes are built)."""

    def __init__(self, shared: SharedRuntime) -> None:
        self.shared = shared

    def hit(self, *args: Any) -> Any:
        limiter = self.shared.runtime.limiter
        assert limiter is not None
        return limiter.hit(*args)


def _oauth_routes(provider: JarvisAuthProvider, issuer: str, web: Web) -> list[Route]:
    # valid_scopes unset: the SDK would refuse a registration naming any scope not ours (openid,
    # offline_access); JarvisClient.validate_scope ignores those instead.
    registration = ClientRegistrationOptions(enabled=True, default_scopes=SCOPES)
    revocation = RevocationOptions(enabled=True)
    routes = create_auth_routes(provider, AnyHttpUrl(issuer), client_registration_options=registration,
                                revocation_options=revocation)
    sdk = build_metadata(AnyHttpUrl(issuer), None, registration, revocation).model_dump(mode="json", exclude_none=True)
    metadata = OAuthMetadata.model_validate({
        **sdk,
        "issuer": issuer,  # exactly as `iss` says it (a bare AnyHttpUrl would add a trailing slash)
        "scopes_supported": SCOPES,
        "client_id_metadata_document_supported": True,
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
    })
    sdk_authorize = AuthorizationHandler(provider)

    async def authorize(request: Request) -> Response:
        # The SDK answers an unknown client or a redirect_uri it cannot trust with JSON 400 and never
        # redirects; a person in a browser gets a page saying why instead.
        refusal.set(None)
        response = await sdk_authorize.handle(request)
        location = response.headers.get("location", "")
        if response.status_code == 302 and "error=" in location and "iss=" not in location:
            # RFC 9207: error responses name the issuer too (the SDK's own redirects do not).
            response.headers["location"] = construct_redirect_uri(location, iss=issuer)
        if response.status_code != 400 or response.media_type != "application/json":
            return response
        body = json.loads(bytes(response.body))
        reason = " ".join(x for x in (body.get("error_description"), refusal.get()) if x)
        return web.message(request, "This app cannot sign you in", reason or body.get("error", "invalid request"),
                           status=400, error=True)

    out: list[Route] = []
    for route in routes:
        if route.path == METADATA_PATH:
            out.append(Route(METADATA_PATH, endpoint=cors_middleware(MetadataHandler(metadata).handle,
                                                                     ["GET", "OPTIONS"]), methods=["GET", "OPTIONS"]))
        elif route.path == "/authorize":
            out.append(Route("/authorize", endpoint=authorize, methods=["GET", "POST"]))
        elif route.path == "/token":
            out.append(Route("/token", endpoint=cors_middleware(_token(provider), ["POST", "OPTIONS"]),
                             methods=["POST", "OPTIONS"]))
        elif route.path == "/revoke":
            out.append(Route("/revoke", endpoint=cors_middleware(_revocation(provider), ["POST", "OPTIONS"]),
                             methods=["POST", "OPTIONS"]))
        else:
            out.append(route)
    return out


def _revocation(provider: JarvisAuthProvider) -> Any:
    """RFC 7009 for every client. The SDK's handler requires a client_secret field even from a public
    client (which has none, and RFC 7009 does not ask for one), so public clients could never revoke."""
    authenticator = ClientAuthenticator(provider)

    async def revoke(request: Request) -> Response:
        try:
            client = await authenticator.authenticate_request(request)
        except AuthenticationError as exc:
            return JSONResponse({"error": "invalid_client", "error_description": exc.message}, status_code=401)
        form = await request.form()
        token = form.get("token")
        if not isinstance(token, str) or not token:
            return JSONResponse({"error": "invalid_request", "error_description": "token: required"}, status_code=400)
        found = await provider.load_access_token(token) or await provider.load_refresh_token(client, token)
        if found is not None and found.client_id == client.client_id:
            await provider.revoke_token(found)
        # RFC 7009 §2.2: an unknown or already revoked token answers 200 too.
        return Response(status_code=200, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    return revoke


def _token(provider: JarvisAuthProvider) -> Any:
    """The SDK's token endpoint, after the RFC 8707 check it leaves out: a token request naming another
    resource is refused (every token here is for this server's resource alone)."""
    sdk = TokenHandler(provider, ClientAuthenticator(provider))

    async def token(request: Request) -> Response:
        form = await request.form()  # kept on the request: the SDK's handler reads the same form
        resource = form.get("resource")
        if isinstance(resource, str) and resource and not same_resource(resource, provider.resource):
            return JSONResponse({"error": "invalid_target", "error_description":
                                 f"this server issues tokens only for {provider.resource}"}, status_code=400,
                                headers={"Cache-Control": "no-store"})
        return await sdk.handle(request)

    return token
