"""`jarvis-mcp demo`: a scripted session through a real MCP client over stdio, in a throwaway data folder.

It drives the same `jarvis-mcp serve` that Claude Desktop launches, so what it shows is what a client gets.
Output goes to stdout through `say()` only; the server's own logs stay on stderr.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent

STEP_TIMEOUT_S = 60.0  # the first search may wait for the embedding model to finish loading
TOTAL_TIMEOUT_S = 180.0
REQUIRED_TOOLS = ("get_profile", "set_profile", "remember", "search_memory", "forget", "log_conversation",
                  "recent_history")

DENTIST = "My dentist is Dr. Lucía Ruiz at Clínica Sonrisa; my next check-up is on 10 March at 9:30."
MEMORIES: list[dict[str, Any]] = [
    {"text": DENTIST, "kind": "fact", "tags": ["health"]},
    {"text": "I prefer meetings in the morning, never after 6 pm.", "kind": "preference", "tags": ["work"]},
    {"text": "My sister Marta's wedding in Seville.", "kind": "event", "tags": ["family"],
     "occurred_at": "2026-05-16T18:00:00+02:00"},
    {"text": "Marta is my sister; she lives in Seville and works as a veterinarian.", "kind": "person",
     "tags": ["family"]},
    {"text": "Renew my passport before the trip to Japan in July.", "kind": "task", "tags": ["travel", "todo"]},
]
CONVERSATION = [
    {"role": "user", "content": "Remind me to order flowers for Marta's wedding."},
    {"role": "assistant", "content": "Noted. Any flowers in particular?"},
    {"role": "user", "content": "Sunflowers, they are her favourite."},
]
CONTACTS = [
    {"name": "Lucía Ruiz", "emails": ["lucia.ruiz@clinicasonrisa.example"], "phones": ["+34 612 345 678"],
     "company": "Clínica Sonrisa", "tags": ["health"]},
    {"name": "Marta García", "emails": ["marta@example.org"], "phones": ["+34 622 334 455"], "tags": ["family"]},
]


class DemoFailed(Exception):
    """A step did not answer as expected; the message says which and why."""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _call_repr(name: str, args: dict[str, Any]) -> str:
    parts = []
    for key, value in args.items():
        shown = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={_short(shown, 60)}")
    return f"{name}({', '.join(parts)})"


def _text(result: Any) -> str:
    blocks = getattr(result, "content", None) or []
    return "\n".join(b.text for b in blocks if isinstance(b, TextContent))


def _flags(annotations: Any) -> str:
    if annotations is None:
        return "no annotations"
    flags = ["read-only" if annotations.read_only_hint else "writes"]
    if annotations.destructive_hint:
        flags.append("destructive")
    if annotations.idempotent_hint:
        flags.append("idempotent")
    if annotations.open_world_hint:
        flags.append("open-world")
    return ", ".join(flags)


class Session:
    """The scripted conversation: numbered steps, each saying what the assistant does and what comes back."""

    def __init__(self) -> None:
        self.c: Client = None  # type: ignore[assignment]  # set once connected
        self.step_no = 0
        self.step_title = "connect"
        self.ids: dict[str, str] = {}

    def step(self, title: str) -> None:
        self.step_no += 1
        self.step_title = title
        say()
        say(f"[{self.step_no}] {title}")

    async def call(self, name: str, args: dict[str, Any], *, expect_error: bool = False) -> CallToolResult:
        say(f"  assistant → {_call_repr(name, args)}")
        result = await self.c.call_tool(name, args)
        if result.is_error and not expect_error:
            raise DemoFailed(f"{name} answered an error: {_text(result)}")
        if expect_error and not result.is_error:
            raise DemoFailed(f"{name} accepted arguments it should have refused: {args}")
        return result

    def back(self, text: str) -> None:
        say(f"  server    ← {text}")

    async def run(self, tools_wanted: Sequence[str]) -> None:
        c = self.c
        self.step("Connect over stdio and read the server's instructions")
        info = c.server_info
        self.back(f"{info.name if info else '?'} {info.version if info else ''}, protocol {c.protocol_version}")
        for line in (c.instructions or "(no instructions)").splitlines():
            say(f"    | {line}")

        self.step("List the tools (annotations tell the client which ones only read)")
        tools = {t.name: t for t in (await c.list_tools()).tools}
        missing = [t for t in tools_wanted if t not in tools]
        if missing:
            raise DemoFailed(f"the server does not list {', '.join(missing)}")
        for name, tool in tools.items():
            say(f"    {name:<18} {_flags(tool.annotations)}")
        templates = (await c.list_resource_templates()).resource_templates
        resources = [r.uri for r in (await c.list_resources()).resources] + [t.uri_template for t in templates]
        prompts = [p.name for p in (await c.list_prompts()).prompts]
        say(f"    resources: {', '.join(str(r) for r in resources)}")
        say(f"    prompts:   {', '.join(prompts)}")

        self.step("First contact: who is this user?")
        profile = (await self.call("get_profile", {})).structured_content or {}
        if profile.get("onboarding_complete") is not False:
            raise DemoFailed(f"a fresh user should not have completed onboarding: {profile}")
        self.back(f"onboarding_complete=false, missing: {', '.join(profile.get('missing', []))}")

        self.step("New user, so the assistant fetches the onboarding prompt")
        say("  assistant → prompts/get onboarding")
        prompt = await c.get_prompt("onboarding", {})
        first = prompt.messages[0].content
        lines = first.text.splitlines() if isinstance(first, TextContent) else []
        for line in lines[:4]:
            say(f"    | {line}")
        say(f"    | … ({len(lines)} lines)")

        self.step("The user answers; the assistant saves the profile")
        args = {"name": "Ada", "timezone": "Europe/Madrid", "locale": "es-ES"}
        profile = (await self.call("set_profile", args)).structured_content or {}
        if profile.get("name") != "Ada" or not profile.get("onboarding_complete"):
            raise DemoFailed(f"set_profile did not take: {profile}")
        self.back(f"name={profile['name']}, timezone={profile['timezone']}, locale={profile['locale']}, "
                  f"onboarding_complete=true, still missing: {', '.join(profile['missing']) or 'nothing'}")

        self.step("Remember what the user shares")
        for item in MEMORIES:
            out = (await self.call("remember", item)).structured_content or {}
            memory = out["memory"]
            self.ids[item["kind"]] = memory["id"]
            when = f", occurred_at {memory['occurred_at']}" if memory.get("occurred_at") else ""
            self.back(f"created={str(out['created']).lower()}, id {memory['id'][:8]}…{when}")

        self.step("Remember the same thing again (case and spacing differ): stored once")
        again = {"text": "  my dentist is DR. LUCÍA RUIZ at Clínica Sonrisa;  my next check-up is on 10 March at 9:30. ",
                 "kind": "fact"}
        out = (await self.call("remember", again)).structured_content or {}
        if out.get("created") is not False or out.get("duplicate_of") != self.ids["fact"]:
            raise DemoFailed(f"the duplicate was stored again: {out}")
        self.back(f"created=false, duplicate_of {out['duplicate_of'][:8]}… (nothing new written)")

        self.step("A bad argument gets an error that names the field; nothing is written")
        bad = await self.call("remember", {"text": "Buy milk", "kind": "reminder"}, expect_error=True)
        self.back(f"error: {_short(_text(bad), 110)}")

        self.step("Log the conversation so later sessions can recall it")
        out = (await self.call("log_conversation", {"title": "Flowers for Marta's wedding",
                                                    "messages": CONVERSATION})).structured_content or {}
        self.back(f"conversation {out['conversation_id'][:8]}…, {out['turns_stored']} turns stored as memories")

        await self.search("Search by meaning: no word in common with the stored text",
                          {"query": "when do I see the tooth doctor?", "top_k": 3}, expect=self.ids["fact"])
        await self.search("Search by keyword", {"query": "passport", "top_k": 3}, expect=self.ids["task"])
        await self.search("Filters apply before ranking: only people",
                          {"query": "Marta", "kinds": ["person"], "top_k": 3}, expect=self.ids["person"], only=True)

        self.step("Read resources: the profile, and one memory by id")
        say("  assistant → resources/read jarvis://me/profile")
        profile = json.loads(await self.read("jarvis://me/profile"))
        self.back(f"name={profile['name']}, timezone={profile['timezone']}, locale={profile['locale']}")
        uri = f"jarvis://me/memories/{self.ids['fact']}"
        say(f"  assistant → resources/read {uri}")
        memory = json.loads(await self.read(uri))
        self.back(f"[{memory['kind']}] {_short(memory['text'], 70)} tags={memory['tags']}")

        self.step("Forget a memory; its id then reads as not found")
        out = (await self.call("forget", {"memory_ids": [self.ids["task"]]})).structured_content or {}
        if out.get("forgotten") != [self.ids["task"]]:
            raise DemoFailed(f"forget did not delete the memory: {out}")
        self.back(f"forgotten: {len(out['forgotten'])}, not_found: {len(out['not_found'])}")
        uri = f"jarvis://me/memories/{self.ids['task']}"
        say(f"  assistant → resources/read {uri}")
        try:
            await c.read_resource(uri)
        except MCPError as exc:
            self.back(f"error {exc.code}: {exc.error.message}")
        else:
            raise DemoFailed("a forgotten memory can still be read")

        self.step("Recent history")
        history = await self.call("recent_history", {"limit": 10})
        self.back(_text(history).splitlines()[0])
        actions = (history.structured_content or {}).get("actions", [])
        say(f"    latest actions: {', '.join(a['tool'] + ('' if a['status'] == 'ok' else ' (error)') for a in actions[:6])}")

        self.step("The context prompt: profile + the memories relevant to a query")
        say("  assistant → prompts/get context query=\"Marta's wedding plans\"")
        prompt = await c.get_prompt("context", {"query": "Marta's wedding plans"})
        first = prompt.messages[0].content
        text = first.text if isinstance(first, TextContent) else ""
        if "Ada" not in text or "Seville" not in text:
            raise DemoFailed(f"the context prompt lacks the profile or the memories: {text[:300]}")
        for line in text.splitlines()[:8]:
            say(f"    | {_short(line, 100)}")

        await self.contacts(tools)

    async def search(self, title: str, args: dict[str, Any], *, expect: str, only: bool = False) -> None:
        self.step(title)
        result = (await self.call("search_memory", args)).structured_content or {}
        hits = result.get("hits", [])
        for n, hit in enumerate(hits, 1):
            ranks = ", ".join(
                f"{label} #{hit[key]}" for label, key in (("vector", "vector_rank"), ("keyword", "keyword_rank"))
                if hit.get(key)
            )
            say(f"    {n}. [{hit['kind']}] {_short(hit['text'], 66)}  (score {hit['score']:.4f}; {ranks})")
        found = [h["id"] for h in hits]
        if expect not in found[:3]:
            raise DemoFailed(f"search_memory {args} did not find the expected memory among {found}")
        if only and any(h["kind"] not in args["kinds"] for h in hits):
            raise DemoFailed(f"the kinds filter let other kinds through: {[h['kind'] for h in hits]}")

    async def read(self, uri: str) -> str:
        contents = (await self.c.read_resource(uri)).contents
        return getattr(contents[0], "text", "") if contents else ""

    async def contacts(self, tools: dict[str, Any]) -> None:
        self.step("Contacts: save two, then find one forgivingly (typo, partial phone)")
        for contact in CONTACTS:
            result = await self.call("save_contact", contact)
            self.back(_short(_text(result), 100))
        for query in ("lucia ruis", "612 34"):
            result = await self.call("search_clients", {"query": query})
            names = [hit["name"] for hit in (result.structured_content or {}).get("hits", [])]
            if not names or names[0] != "Lucía Ruiz":
                raise DemoFailed(f"search_clients({query!r}) should find Lucía Ruiz first, got {names}")
            self.back(f"{query!r} -> {names[0]}")


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the task groups' exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DemoFailed):
        return str(exc)
    if isinstance(exc, MCPError):
        return f"MCP error {exc.code}: {exc.error.message}"
    return f"{type(exc).__name__}: {exc}"


async def _session(session: Session, command: Sequence[str], home: str) -> None:
    params = StdioServerParameters(
        command=command[0], args=list(command[1:]), cwd=home,
        # Only these JARVIS_* reach the server: the stdio client passes a minimal environment.
        env={"JARVIS_HOME": home, "JARVIS_USER": "demo", "JARVIS_LOG_LEVEL": "WARNING"},
    )
    with anyio.fail_after(TOTAL_TIMEOUT_S):
        async with Client(params, read_timeout_seconds=STEP_TIMEOUT_S) as client:
            session.c = client
            await session.run(REQUIRED_TOOLS)


def run_demo(*, command: Sequence[str] | None = None) -> int:
    """Run the scripted session; 0 when every step answered as expected. `command` is for tests."""
    command = list(command or [sys.executable, "-m", "jarvis_mcp", "serve"])
    say("JARVIS MCP demo: an assistant's session, played through a real MCP client over stdio.")
    with tempfile.TemporaryDirectory(prefix="jarvis-demo-", ignore_cleanup_errors=True) as home:
        say(f"server: {' '.join(['python' if c == sys.executable else c for c in command])}  "
            f"(JARVIS_HOME={home}, JARVIS_USER=demo)")
        session = Session()
        try:
            anyio.run(_session, session, command, home)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes one clear line and an exit code
            leaf = _leaf(exc)
            if isinstance(leaf, KeyboardInterrupt):
                raise
            reason = (f"timed out (limits: {STEP_TIMEOUT_S:.0f} s a step, {TOTAL_TIMEOUT_S:.0f} s in all)"
                      if isinstance(leaf, TimeoutError) else _describe(leaf))
            sys.stderr.write(f"\njarvis-mcp demo: FAILED at step {session.step_no} ({session.step_title}): {reason}\n")
            return 1
    say()
    say(f"Demo complete: {session.step_no} steps answered as expected; the temporary data folder is removed.")
    return 0
