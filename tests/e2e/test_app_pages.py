"""/app in Debian's Chromium: a person signs in, deletes a memory, uploads a document, watches the outbox row
of an email sent through MCP appear without reloading, then walks every page (each checked by axe-core for
serious or critical violations, and laid out on a 390 px phone without sideways scrolling).

`UPDATE_SCREENSHOTS=1` keeps each page's phone-sized screenshot under docs/app/ (shown in the README)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_oauth import RemoteClient, remember
from e2e_people import Person

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PAGES = ("/app", "/app/activity", "/app/approvals", "/app/memories", "/app/documents", "/app/contacts",
         "/app/connections")
PHONE = {"width": 390, "height": 844}
LIVE_WAIT_MS = 10_000


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        message = f"{AXE} is missing: run `npm ci` at the repository root (package.json pins axe-core)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def signed_in_page(someone: Person) -> Any:
    """A tab on /app, signed in through the sign-in page /app sends a signed-out person to."""
    page = someone.context.new_page()
    page.goto(someone.server.base + "/app")
    if page.url.split("?")[0].endswith("/signin"):
        someone.sign_in_by_email(page)
    assert page.url == someone.server.base + "/app", page.url
    return page


def serious_violations(page: Any, axe: str) -> list[str]:
    # Evaluated through the DevTools protocol: the page's CSP (no inline scripts) stays as it is for the check.
    page.evaluate(axe + "\n;0")
    result = page.evaluate("async () => { const r = await axe.run(document); return {passes: r.passes.length, "
                           "violations: r.violations.map(v => ({id: v.id, impact: v.impact, "
                           "nodes: v.nodes.map(n => n.target.join(' '))}))}; }")
    assert result["passes"] > 10, result  # axe really looked at the page
    found = result["violations"]
    return [f"{v['id']} ({v['impact']}): {v['nodes'][:3]}" for v in found if v["impact"] in ("serious", "critical")]


def walk_every_page(someone: Person, page: Any, axe: str) -> dict[str, Any]:
    """Every page at phone size: its sideways overflow, its screenshot's signature, axe's serious findings."""
    save = ROOT / "docs" / "app" if os.environ.get("UPDATE_SCREENSHOTS") else None
    page.set_viewport_size(PHONE)
    report: dict[str, Any] = {}
    for path in PAGES:
        page.goto(someone.server.base + path)
        assert page.locator("main h1").count() == 1, path
        overflow = page.evaluate("document.documentElement.scrollWidth")
        shot = page.screenshot(full_page=True)
        if save:
            save.mkdir(parents=True, exist_ok=True)
            (save / f"{path.strip('/').replace('/', '-')}.png").write_bytes(shot)
        report[path] = {"overflow": overflow, "png": shot[:8], "axe": serious_violations(page, axe)}
    return report


async def test_pages_live_outbox_axe_and_phone(person: Callable[..., Person], tmp_path: Path, axe_source: str) -> None:
    marker = uuid.uuid4().hex[:8]
    fede = person(f"fede.{marker}@example.com")
    page = await fede.browser.arun(signed_in_page, fede)
    app = RemoteClient(fede.server.mcp_url, fede.authorize)
    try:
        async with app.connect() as client:
            memory_id = await remember(client, f"Fede's locker code is {marker}")
            await remember(client, "A Fede le gusta el café solo, sin azúcar")
            saved = await client.call_tool("save_contact", {"name": "Lucía Pérez", "emails": ["lucia@example.com"],
                                                            "company": "Acme"})
            assert not saved.is_error, saved.content

            def delete_memory() -> str:
                page.goto(fede.server.base + "/app/memories")
                with page.expect_navigation():
                    page.click(f"#memory-{memory_id} button")
                return page.inner_text("#memory-list")

            assert marker not in await fede.browser.arun(delete_memory)

            upload = tmp_path / f"notas-{marker}.md"
            upload.write_text(f"# Notas {marker}\n\nReunión con el equipo de ventas el martes.", encoding="utf-8")

            def upload_document() -> str:
                page.goto(fede.server.base + "/app/documents")
                page.set_input_files("#file", str(upload))
                with page.expect_navigation():
                    page.click("form.upload button[type=submit]")
                return page.inner_text("#document-list")

            assert f"notas-{marker}.md" in await fede.browser.arun(upload_document)

            def open_activity() -> None:
                page.goto(fede.server.base + "/app/activity")
                page.wait_for_selector("main[data-connected=true]", timeout=LIVE_WAIT_MS)
                page.evaluate("window.jarvisNoReload = true")  # gone if the page reloads

            await fede.browser.arun(open_activity)
            sent = await client.call_tool("send_email", {"to": ["lucia@example.com"], "subject": f"Hola {marker}",
                                                         "body": "Nos vemos el lunes."})
            assert not sent.is_error, sent.content

            def row_appears() -> tuple[str, bool]:
                row = page.wait_for_selector(f"#outbox-rows li:has-text('Hola {marker}')", timeout=LIVE_WAIT_MS)
                return row.inner_text(), page.evaluate("window.jarvisNoReload === true")

            text, same_page = await fede.browser.arun(row_appears)
            assert same_page and "send email" in text.lower()

        # Now that every page has rows to show: axe on each, and each fits a phone.
        report = await fede.browser.arun(walk_every_page, fede, page, axe_source)
        for path, seen in report.items():
            assert seen["png"] == b"\x89PNG\r\n\x1a\n", path
            assert seen["overflow"] <= PHONE["width"], f"{path} scrolls sideways on a phone: {seen['overflow']} px"
            assert seen["axe"] == [], f"{path}: {seen['axe']}"
    finally:
        app.close()
        await fede.browser.arun(page.close)
