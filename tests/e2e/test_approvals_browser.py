"""Approvals in Debian's Chromium: two calls to numbers that are not contacts wait for the person; the second
appears on /app/approvals without a reload; the person approves the first with their voice key (typed
without the accents they set it with) and sees it carried out, and rejects the second; the MCP client's
get_action agrees with the page."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_oauth import RemoteClient
from e2e_people import Person
from mcp import Client

PHRASE = "Mi perro se llama Tomás el grande"
TYPED = "mi perro se llama tomas el grande"
LIVE_WAIT_MS = 10_000
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        message = f"{AXE} is missing: run `npm ci` at the repository root (package.json pins axe-core)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def serious_violations(page: Any, axe: str) -> list[str]:
    page.evaluate(axe + "\n;0")
    found = page.evaluate("async () => (await axe.run(document)).violations"
                          ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
    return [f"{v['id']} ({v['impact']}): {v['nodes'][:3]}" for v in found if v["impact"] in ("serious", "critical")]


async def call(client: Client, number: str, purpose: str) -> str:
    result = await client.call_tool("call_contact", {"contact": number, "purpose": purpose})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["status"] == "pending_confirmation", result.structured_content
    return str(result.structured_content["call_id"])


async def status(client: Client, action_id: str) -> str:
    result = await client.call_tool("get_action", {"action_id": action_id})
    assert not result.is_error and result.structured_content is not None, result.content
    return str(result.structured_content["status"])


async def test_approve_one_call_and_reject_another_on_the_page(person: Callable[..., Person], axe_source: str) -> None:
    marker = uuid.uuid4().hex[:8]
    gala = person(f"gala.{marker}@example.com")
    base = gala.server.base

    def open_approvals() -> Any:
        page = gala.context.new_page()
        page.goto(base + "/app/approvals")
        if page.url.split("?")[0].endswith("/signin"):
            gala.sign_in_by_email(page)  # and back to /app/approvals
        assert page.url == base + "/app/approvals", page.url
        return page

    page = await gala.browser.arun(open_approvals)
    app = RemoteClient(gala.server.mcp_url, gala.authorize)
    try:
        async with app.connect() as client:
            assert not (await client.call_tool("set_voice_key", {"phrase": PHRASE})).is_error
            first = await call(client, "+34600111222", f"Confirmar la cita {marker}")

            def wait_live() -> None:
                page.goto(base + "/app/approvals")
                assert page.locator(f'[data-action-id="{first}"]').count() == 1
                page.wait_for_selector("main[data-connected=true]", timeout=LIVE_WAIT_MS)
                page.evaluate("window.jarvisNoReload = true")  # gone if the page reloads

            await gala.browser.arun(wait_live)
            second = await call(client, "+34600333444", f"Cancelar el pedido {marker}")

            def second_appears() -> tuple[str, bool]:
                row = page.wait_for_selector(f'[data-action-id="{second}"]', timeout=LIVE_WAIT_MS)
                return row.inner_text(), page.evaluate("window.jarvisNoReload === true")

            text, same_page = await gala.browser.arun(second_appears)
            assert same_page and f"Cancelar el pedido {marker}" in text

            def approve_first() -> str:
                page.goto(f"{base}/app/approvals/{first}")
                assert f"Confirmar la cita {marker}" in page.inner_text("#summary")
                assert serious_violations(page, axe_source) == []  # the form, as a screen reader meets it
                page.fill("#phrase", TYPED)
                with page.expect_navigation():
                    page.click("#approve")
                assert page.locator("#notice").count() == 1, page.inner_text("main")
                return str(page.get_attribute("#status", "data-status"))

            shown = await gala.browser.arun(approve_first)
            # The dry-run caller records the call and says it was not placed: carried out, nothing dialled.
            assert shown == "not_delivered"
            assert await status(client, first) == shown

            def reject_second() -> str:
                page.goto(f"{base}/app/approvals/{second}")
                with page.expect_navigation():
                    page.click("#reject")
                return str(page.get_attribute("#status", "data-status"))

            assert await gala.browser.arun(reject_second) == "cancelled"
            assert await status(client, second) == "cancelled"

            def nothing_left() -> bool:
                page.goto(base + "/app/approvals")
                return page.locator("#approvals-empty").count() == 1

            assert await gala.browser.arun(nothing_left)
    finally:
        app.close()
        await gala.browser.arun(page.close)
