"""The OAuth 2.1 authorization server behind the SDK's handlers (mcp.server.auth): clients (DCR and Client
ID Metadata Documents), authorization codes with PKCE, opaque access tokens of minutes and rotating
refresh tokens, all kept hashed in the store so any number of processes share them."""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from jarvis_mcp.identity.clients import (
    JarvisClient,
    MetadataDocuments,
    MetadataRefused,
    client_from_json,
    is_metadata_url,
    refusal,
)
from jarvis_mcp.identity.keys import digest, new_secret
from jarvis_mcp.identity.ports import GrantRecord, SignInStore, TokenRecord
from jarvis_mcp.tokens import SignedInToken

log = logging.getLogger(__name__)
T = TypeVar("T")

ACCESS_TTL_S = 600
REFRESH_TTL_S = 30 * 86400
CODE_TTL_S = 300
REQUEST_TTL_S = 1800  # time to sign in (an email link included) and approve
ACCESS_PREFIX = "jat_"
REFRESH_PREFIX = "jrt_"
PURGE_CHANCE = 0.02  # of a token issue forgetting the grants, tokens, sessions and links expired a day ago


def same_resource(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class JarvisAuthProvider:
    """OAuthAuthorizationServerProvider for the SDK's /authorize, /token, /register and /revoke handlers.

    /authorize only records the request and sends the browser to the consent page (pages.py), which
    signs the person in first; the code is made there, bound to the user who approved."""

    def __init__(self, store: Callable[[], SignInStore], *, issuer: str, resource: str,
                 documents: MetadataDocuments) -> None:
        self._store = store
        self.issuer = issuer.rstrip("/")
        self.resource = resource
        self.documents = documents

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args)

    def audit(self, user_id: str, event: str, arguments: dict[str, object], status: str = "ok",
              error: str | None = None) -> None:
        try:
            self._store().record_action(user_id, event, arguments, status, error, 0.0)
        except Exception:  # the audit must never turn a good answer into a failure
            log.exception("could not audit %s", event)

    # -- clients ----------------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        if is_metadata_url(client_id):
            try:
                return await self.documents.get(client_id)
            except MetadataRefused as exc:
                refusal.set(str(exc))
                log.info("client metadata document refused: %s", exc)
                return None
        info = await self._run(self._store().get_oauth_client, client_id)
        if info is None:
            refusal.set("this client is not registered here")
        return client_from_json(info) if info else None

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        client = JarvisClient.model_validate(client_info.model_dump())
        await self._run(self._store().put_oauth_client, client.client_id, client.model_dump_json())

    # -- authorization ----------------------------------------------------------------------------

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        if params.resource is not None and not same_resource(params.resource, self.resource):
            raise AuthorizeError("invalid_target", f"this server issues tokens only for {self.resource}")
        request_id = new_secret()
        data = {"redirect_uri": str(params.redirect_uri), "explicit": params.redirect_uri_provided_explicitly,
                "code_challenge": params.code_challenge, "scopes": params.scopes or [], "state": params.state,
                "resource": self.resource}
        grant = GrantRecord(digest(request_id), "request", client.client_id, None, json.dumps(data),
                            time.time() + REQUEST_TTL_S)
        await self._run(self._store().put_grant, grant)
        return f"{self.issuer}/consent?request={request_id}"

    async def load_authorization_code(self, client: OAuthClientInformationFull,
                                      authorization_code: str) -> AuthorizationCode | None:
        grant = await self._run(self._store().get_grant, digest(authorization_code), "code", time.time())
        if grant is None or grant.client_id != client.client_id:
            return None
        data = json.loads(grant.data)
        return AuthorizationCode(code=authorization_code, scopes=data["scopes"], expires_at=grant.expires_at,
                                 client_id=grant.client_id, code_challenge=data["code_challenge"],
                                 redirect_uri=data["redirect_uri"], redirect_uri_provided_explicitly=data["explicit"],
                                 resource=data["resource"], subject=grant.user_id)

    async def exchange_authorization_code(self, client: OAuthClientInformationFull,
                                          authorization_code: AuthorizationCode) -> OAuthToken:
        # Checked (PKCE, redirect, expiry) by the SDK; used here, once: of two racing exchanges one wins.
        grant = await self._run(self._store().consume_grant, digest(authorization_code.code), "code", time.time())
        if grant is None or grant.user_id is None:
            raise TokenError("invalid_grant", "authorization code was already used")
        return await self._issue(grant.user_id, client.client_id, authorization_code.scopes,
                                 str(uuid.uuid4()), "authorization_code")

    async def _issue(self, user_id: str, client_id: str, scopes: list[str], family: str, grant: str) -> OAuthToken:
        now = time.time()
        access, refresh = new_secret(ACCESS_PREFIX), new_secret(REFRESH_PREFIX)
        scope = " ".join(scopes)
        records = [TokenRecord(digest(access), "access", family, user_id, client_id, scope, self.resource,
                               now + ACCESS_TTL_S),
                   TokenRecord(digest(refresh), "refresh", family, user_id, client_id, scope, self.resource,
                               now + REFRESH_TTL_S)]
        await self._run(self._store().add_tokens, records, now)
        if random.random() < PURGE_CHANCE:  # now and then, not on a timer: any process may do it, none must
            await self._run(self._store().purge_auth, now)
        await self._run(self.audit, user_id, "oauth:token_issued", {"client_id": client_id, "grant": grant,
                                                                    "scope": scope})
        return OAuthToken(access_token=access, token_type="Bearer", expires_in=ACCESS_TTL_S, scope=scope or None,
                          refresh_token=refresh)

    # -- tokens -----------------------------------------------------------------------------------

    async def load_access_token(self, token: str) -> AccessToken | None:
        if not token.startswith(ACCESS_PREFIX):
            return None
        record = await self._run(self._store().get_token, digest(token))
        if (record is None or record.kind != "access" or record.revoked_at is not None
                or record.expires_at <= time.time() or not same_resource(record.resource, self.resource)):
            return None
        return SignedInToken(token=token, client_id=record.client_id, scopes=record.scopes.split(),
                             expires_at=int(record.expires_at), resource=record.resource, subject=record.user_id,
                             claims={"iss": self.issuer}, user_id=record.user_id)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        if not refresh_token.startswith(REFRESH_PREFIX):
            return None
        record = await self._run(self._store().get_token, digest(refresh_token))
        if record is None or record.kind != "refresh" or record.client_id != client.client_id:
            return None
        if record.used_at is not None and record.revoked_at is None:
            await self._reused(record)
            return None
        if record.revoked_at is not None:
            return None
        return RefreshToken(token=refresh_token, client_id=record.client_id, scopes=record.scopes.split(),
                            expires_at=int(record.expires_at), resource=record.resource, subject=record.user_id)

    async def _reused(self, record: TokenRecord) -> None:
        # A rotated refresh token came back: whoever holds it may have stolen it. The whole sign-in ends.
        await self._run(self._store().revoke_family, record.family, time.time())
        await self._run(self.audit, record.user_id, "oauth:refresh_reused", {"client_id": record.client_id},
                        "error", "a rotated refresh token was used again; every token of this sign-in was revoked")

    async def exchange_refresh_token(self, client: OAuthClientInformationFull, refresh_token: RefreshToken,
                                     scopes: list[str]) -> OAuthToken:
        record = await self._run(self._store().consume_refresh, digest(refresh_token.token), time.time())
        if record is None:
            stale = await self._run(self._store().get_token, digest(refresh_token.token))
            if stale is not None:
                await self._reused(stale)
            raise TokenError("invalid_grant", "refresh token was already used")
        return await self._issue(record.user_id, client.client_id, scopes, record.family, "refresh_token")

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        record = await self._run(self._store().get_token, digest(token.token))
        if record is None:
            return
        await self._run(self._store().revoke_family, record.family, time.time())
        await self._run(self.audit, record.user_id, "oauth:token_revoked", {"client_id": record.client_id,
                                                                           "kind": record.kind})
