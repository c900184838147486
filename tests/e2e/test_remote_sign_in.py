"""A remote MCP client given nothing but the server's URL signs a person in, through the SDK's own OAuth
client and a real Chromium on the server's real pages, then works as that person.

One server for the module: each test uses its own people (addresses) and its own client registration.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from e2e_cimd import MetadataHost
from e2e_oauth import RemoteClient, remember, search_texts
from e2e_people import Person
from servers import Server


def _marker() -> str:
    return uuid.uuid4().hex[:10]


async def test_dcr_client_signs_in_by_email_link_and_remembers(
    sign_in_server: Server, person: Callable[..., Person],
) -> None:
    ana = person("ana.dcr@example.com")
    app = RemoteClient(sign_in_server.mcp_url, ana.authorize)
    secret = f"Ana keeps the boat keys in the red tin {_marker()}"
    try:
        async with app.connect() as client:
            await remember(client, secret)
            assert any(secret in text for text in await search_texts(client, "where are the boat keys"))
    finally:
        app.close()

    assert app.authorizations == 1
    # Registered by DCR: the server minted the client_id, and it is not a URL.
    assert app.storage.client_info is not None and not app.storage.client_info.client_id.startswith("http")
    assert len(ana.links_opened) == 1
    # The consent page named the app and where approval sends the browser back.
    assert ana.consents == [("JARVIS e2e (DCR)", app.callback.redirect_uri.split("/")[2])]
    # The redirect carried the authorization server's issuer (RFC 9207).
    assert app.callback.last()["iss"] == sign_in_server.base


async def test_cimd_client_signs_in_with_its_metadata_document(
    sign_in_server: Server, person: Callable[..., Person], cimd_host: MetadataHost,
) -> None:
    bea = person("bea.cimd@example.com")
    app = RemoteClient(sign_in_server.mcp_url, bea.authorize, name="JARVIS e2e (CIMD)")
    app.client_metadata_url = cimd_host.publish(f"/clients/{_marker()}.json", [app.callback.redirect_uri])
    # Spanish in, Spanish out: accents and ¿ travel the whole way (browser-approved token, HTTP, search).
    secret = f"Bea guarda el código de la taquilla en una nota amarilla {_marker()}"
    try:
        async with app.connect() as client:
            await remember(client, secret)
            assert any(secret in text for text in await search_texts(client, "¿dónde está el código de la taquilla?"))
    finally:
        app.close()

    # No registration: the URL is the client_id, and the server fetched the document to learn the client.
    assert app.storage.client_info is not None
    assert app.storage.client_info.client_id == app.client_metadata_url
    assert any(path.startswith("/clients/") for path in cimd_host.fetches)


async def test_an_expired_access_token_is_refreshed_without_the_browser(
    sign_in_server: Server, person: Callable[..., Person],
) -> None:
    cleo = person("cleo.refresh@example.com")
    app = RemoteClient(sign_in_server.mcp_url, cleo.authorize)
    secret = f"Cleo parks on level minus two {_marker()}"
    try:
        async with app.connect() as client:
            await remember(client, secret)
        first = app.storage.tokens
        assert first is not None and first.refresh_token

        app.expire_access_token()
        async with app.connect() as client:
            assert any(secret in text for text in await search_texts(client, "where does Cleo park"))
    finally:
        app.close()

    second = app.storage.tokens
    assert second is not None
    assert second.access_token != first.access_token  # a new access token from the refresh grant
    assert second.refresh_token != first.refresh_token  # rotated
    assert app.authorizations == 1  # nobody was sent to the browser again
    assert len(cleo.links_opened) == 1


async def test_a_second_person_signed_in_by_wallet_sees_nothing_of_the_first(
    sign_in_server: Server, person: Callable[..., Person],
) -> None:
    ana, eve = person("ana.first@example.com"), person(method="wallet")
    ana_app = RemoteClient(sign_in_server.mcp_url, ana.authorize)
    eve_app = RemoteClient(sign_in_server.mcp_url, eve.authorize)
    marker = _marker()
    secret = f"Ana's safe combination is 31-7-22 ({marker})"
    try:
        async with ana_app.connect() as client:
            memory_id = await remember(client, secret)
        async with eve_app.connect() as client:
            texts = await search_texts(client, f"safe combination {marker}")
            assert not any(marker in text for text in texts)
            forgot = await client.call_tool("forget", {"memory_ids": [memory_id]})
            assert forgot.structured_content is not None
            assert forgot.structured_content["forgotten"] == []  # Ana's id is "not found" for Eve
            assert forgot.structured_content["not_found"] == [memory_id]
            await remember(client, f"Eve's own note {marker}")
        async with ana_app.connect() as client:  # Ana still has hers, and nothing of Eve's
            texts = await search_texts(client, f"safe combination {marker}")
            assert any(secret in text for text in texts)
            assert not any("Eve's own note" in text for text in texts)
    finally:
        ana_app.close()
        eve_app.close()

    assert ana.links_opened and not eve.links_opened  # Eve never used email: her wallet signed
