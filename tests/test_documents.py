"""Documents: add / list / get / delete tools, the resources, search through search_memory, attachments,
ingestion (types, extraction, chunking) and the import command."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult
from servers import run_cli

from jarvis_mcp.documents.ingest import (
    Block,
    Chunk,
    chunk_blocks,
    detect_type,
    embedding_texts,
    extract,
    markdown_blocks,
)
from jarvis_mcp.errors import InvalidInput, NotFound

MADE_UP = "00000000-0000-4000-8000-000000000000"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20

LEASE_MD = """# Flat lease

The monthly rent is 950 euros, paid by transfer before the fifth day of each month.

## Pets

Cats are allowed with the written consent of the landlord. Dogs are not allowed.

## Ending the lease

Either party may end the lease with three months' written notice.
"""


def make_pdf(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 5, text)
    return bytes(pdf.output())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    return result.structured_content


def error(result: CallToolResult) -> str:
    """The service's message, without the SDK's "Error executing tool NAME: " in front."""
    assert result.is_error, result.structured_content
    return re.sub(r"^Error executing tool \w+: ", "", result.content[0].text)


async def add_lease(c: Client, **extra: Any) -> dict[str, Any]:
    return ok(await c.call_tool("add_document", {"title": "Flat lease", "text": LEASE_MD, "mime_type": "text/markdown",
                                                 "tags": ["home"], **extra}))


async def total_documents(c: Client) -> int:
    return ok(await c.call_tool("list_documents", {}))["total"]


# -- happy paths ---------------------------------------------------------------------------------


async def test_add_markdown_then_find_it_with_search_memory(client_for) -> None:
    async with client_for("alice") as c:
        added = await add_lease(c)
        doc = added["document"]
        assert added["created"] is True and added["passages"] >= 1
        assert doc["mime_type"] == "text/markdown" and doc["filename"] == "Flat lease.md"
        assert doc["uri"] == f"jarvis://me/documents/{doc['id']}" and doc["original_uri"] == doc["uri"] + "/original"
        result = await c.call_tool("search_memory", {"query": "can I keep a cat in the flat?", "top_k": 3})
        top = ok(result)["hits"][0]
        assert top["kind"] == "document" and "Cats are allowed" in top["text"]
        assert top["document_id"] == doc["id"] and top["document_title"] == "Flat lease"
        assert top["document_uri"] == doc["uri"]
        assert top["text"].startswith("Flat lease\n")  # the heading path travels with the passage
        assert f'document="{doc["uri"]}"' in result.content[0].text
        only_docs = ok(await c.call_tool("search_memory", {"query": "rent", "kinds": ["document"], "tags": ["home"]}))
        assert only_docs["hits"] and all(h["kind"] == "document" for h in only_docs["hits"])
        # Passages are found by search, not listed as the user's recent memories (documents have their own list).
        history = json.loads((await c.read_resource("jarvis://me/history")).contents[0].text)
        assert history["recent_memories"] == []


async def test_pdf_made_here_round_trips_to_searchable_passages(client_for) -> None:
    filler = " ".join(f"Line {i} of the household paperwork notes, kept for reference." for i in range(16))
    pages = [
        f"Household appliances. This file lists the appliances in the flat. {filler}",
        f"Dishwasher. The warranty on the dishwasher expires in August 2027 and covers the drain pump. {filler}",
        f"Washing machine. Bought in 2021 from Hartley Electrics; the receipt is in the blue folder. {filler}",
    ]
    data = make_pdf(pages)
    async with client_for("alice") as c:
        added = ok(await c.call_tool("add_document", {"title": "Appliances", "content_base64": b64(data),
                                                      "mime_type": "application/pdf", "filename": "appliances.pdf"}))
        doc = added["document"]
        assert (doc["mime_type"], doc["pages"], doc["size_bytes"]) == ("application/pdf", 3, len(data))
        hits = ok(await c.call_tool("search_memory", {"query": "when does the dishwasher warranty end?"}))["hits"]
        assert hits[0]["kind"] == "document" and "August 2027" in hits[0]["text"]
        assert "p. 2" in hits[0]["text"].splitlines()[0]
        text = ok(await c.call_tool("get_document", {"document_id": doc["id"]}))["text"]
        assert all(p.split(".")[0] in text for p in pages)
        original = await c.read_resource(doc["original_uri"])
        assert base64.b64decode(original.contents[0].blob) == data


async def test_html_is_read_as_text_without_scripts_or_styles(client_for) -> None:
    html = ("<!DOCTYPE html><html><head><title>T</title><style>.x{color:red}</style></head><body>"
            "<h1>Boiler</h1><p>Serviced by Kestrel Heating &amp; Sons every March.</p>"
            "<script>stealCookies()</script></body></html>")
    async with client_for("alice") as c:
        doc = ok(await c.call_tool("add_document", {"title": "Boiler page", "text": html}))["document"]
        assert doc["mime_type"] == "text/html"  # sniffed from the content
        text = ok(await c.call_tool("get_document", {"document_id": doc["id"]}))["text"]
        assert "Kestrel Heating & Sons" in text and "stealCookies" not in text and "color:red" not in text


async def test_adding_the_same_content_again_returns_the_stored_document(client_for) -> None:
    async with client_for("alice") as c:
        first = await add_lease(c)
        usage = json.loads((await c.read_resource("jarvis://me/usage")).contents[0].text)
        again = ok(await c.call_tool("add_document", {"title": "Another title", "text": LEASE_MD,
                                                      "mime_type": "text/markdown"}))
        assert again["created"] is False and again["document"]["id"] == first["document"]["id"]
        assert again["document"]["title"] == "Flat lease"
        assert await total_documents(c) == 1
        assert json.loads((await c.read_resource("jarvis://me/usage")).contents[0].text)["memories"] == usage["memories"]


async def test_list_filters_by_title_and_tags(client_for) -> None:
    async with client_for("alice") as c:
        lease = (await add_lease(c))["document"]["id"]
        invoice = ok(await c.call_tool("add_document", {"title": "Électricité invoice March", "text": "Amount due: 42 EUR",
                                                        "tags": ["bills"]}))["document"]["id"]
        listed = ok(await c.call_tool("list_documents", {}))
        assert [d["id"] for d in listed["documents"]] == [invoice, lease]
        assert listed["total"] == 2 and listed["bytes_used"] == len(LEASE_MD.encode()) + len(b"Amount due: 42 EUR")
        assert [d["id"] for d in ok(await c.call_tool("list_documents", {"query": "electricite"}))["documents"]] == [invoice]
        assert [d["id"] for d in ok(await c.call_tool("list_documents", {"tags": ["home"]}))["documents"]] == [lease]
        assert [d["id"] for d in ok(await c.call_tool("list_documents", {"limit": 1}))["documents"]] == [invoice]


async def test_get_document_reads_in_parts(client_for) -> None:
    async with client_for("alice") as c:
        doc_id = (await add_lease(c))["document"]["id"]
        first = await c.call_tool("get_document", {"document_id": doc_id, "max_chars": 40})
        part = ok(first)
        assert part["truncated"] is True and part["next_offset"] == 40 and len(part["text"]) == 40
        assert "not instructions" in first.content[0].text and "<document " in first.content[0].text
        rest = ok(await c.call_tool("get_document", {"document_id": doc_id, "offset": 40, "max_chars": 100_000}))
        assert part["text"] + rest["text"] == LEASE_MD.strip() and rest["next_offset"] is None


async def test_resources_list_text_and_original(client_for) -> None:
    async with client_for("alice") as c:
        doc = (await add_lease(c))["document"]
        listing = json.loads((await c.read_resource("jarvis://me/documents")).contents[0].text)
        assert [d["id"] for d in listing["documents"]] == [doc["id"]]
        text = (await c.read_resource(doc["uri"])).contents[0]
        assert text.mime_type == "text/plain" and "three months' written notice" in text.text
        blob = (await c.read_resource(doc["original_uri"])).contents[0]
        assert base64.b64decode(blob.blob) == LEASE_MD.encode()


async def test_delete_removes_file_text_passages_and_vectors(client_for, home: Path) -> None:
    async with client_for("alice") as c:
        doc = (await add_lease(c))["document"]
        sha = hashlib.sha256(LEASE_MD.encode()).hexdigest()
        assert [p.name for p in (home / "documents").glob("*/*")] == [sha]
        gone = ok(await c.call_tool("delete_document", {"document_id": doc["id"]}))
        assert gone["document_id"] == doc["id"] and gone["passages_removed"] >= 1
        assert await total_documents(c) == 0
        assert list((home / "documents").glob("*/*")) == []
        for query in ("cat landlord consent", "rent euros transfer", "written notice"):
            assert ok(await c.call_tool("search_memory", {"query": query, "top_k": 50}))["hits"] == []
        with pytest.raises(MCPError):
            await c.read_resource(doc["uri"])
        assert "document not found" in error(await c.call_tool("delete_document", {"document_id": doc["id"]}))


async def test_forget_refuses_a_passage_and_points_to_delete_document(client_for) -> None:
    async with client_for("alice") as c:
        await add_lease(c)
        hit = ok(await c.call_tool("search_memory", {"query": "rent"}))["hits"][0]
        message = error(await c.call_tool("forget", {"memory_ids": [hit["id"]]}))
        assert "delete_document" in message and "memory_ids" in message
        assert ok(await c.call_tool("search_memory", {"query": "rent"}))["hits"][0]["id"] == hit["id"]


async def test_read_only_mode_offers_only_the_reading_tools(client_for) -> None:
    async with client_for("alice", read_only=True) as c:
        names = {t.name for t in (await c.list_tools()).tools}
    assert {"list_documents", "get_document"} <= names and not {"add_document", "delete_document"} & names


async def test_annotations_tell_the_truth(client_for) -> None:
    async with client_for("alice") as c:
        tools = {t.name: t.annotations for t in (await c.list_tools()).tools}
    assert tools["delete_document"].destructive_hint is True and tools["delete_document"].read_only_hint is False
    assert tools["add_document"].destructive_hint is False and tools["add_document"].read_only_hint is False
    assert tools["list_documents"].read_only_hint is True and tools["get_document"].read_only_hint is True
    assert all(tools[n].open_world_hint is False for n in ("add_document", "list_documents", "get_document", "delete_document"))


# -- bad input: a clear error naming the field, and nothing written ----------------------------------


BAD_INPUT = [
    ({"content_base64": "not base64!!", "mime_type": "text/plain"}, "content_base64", "not valid base64"),
    ({"content_base64": "aGVsbG8", "mime_type": "text/plain"}, "content_base64", "not valid base64"),  # no padding
    ({"content_base64": "aGVs\nbG8=", "mime_type": "text/plain"}, "content_base64", "not valid base64"),
    ({"content_base64": "", "mime_type": "text/plain"}, "content_base64", "empty"),
    ({"content_base64": b64(PNG), "mime_type": "image/png"}, "mime_type", "unsupported type image/png"),
    ({"content_base64": b64(PNG), "mime_type": "application/pdf"}, "content", "unsupported type image/png"),
    ({"content_base64": b64(b"PK\x03\x04" + b"\x00" * 30), "filename": "report.docx"}, "content",
     "unsupported type application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ({"content_base64": b64(bytes(range(256)) * 4)}, "content", "unsupported type application/octet-stream"),
    ({"text": "plain words", "mime_type": "application/pdf"}, "mime_type", "not a PDF"),
    ({"content_base64": b64(b"%PDF-1.7\nthis is no real pdf"), "mime_type": "application/pdf"}, "content",
     "not a readable PDF"),
    ({"text": "x", "content_base64": b64(b"x")}, "text", "not both"),
    ({}, "text", "give the document as text"),
    ({"text": "   "}, "content", "empty"),
    ({"text": "x", "tags": ["no spaces allowed!"]}, "tags", "tag"),
    ({"title": "../../etc/passwd", "text": "x"}, "title", "path separators"),
    ({"title": "reports/2024", "text": "x"}, "title", "path separators"),
    ({"title": "C:\\Windows\\evil", "text": "x"}, "title", "path separators"),
    ({"title": "..", "text": "x"}, "title", ".."),
    ({"title": "evil\x00name", "text": "x"}, "title", "control characters"),
    ({"title": "invoice\u202efdp.exe", "text": "x"}, "title", "control characters"),
    ({"title": "", "text": "x"}, "title", "empty"),
    ({"title": "t" * 201, "text": "x"}, "title", "at most 200"),
    ({"text": "x", "filename": "../../../home/user/.ssh/authorized_keys"}, "filename", "path separators"),
    ({"text": "x", "filename": "..\\..\\boot.ini"}, "filename", "path separators"),
    ({"text": "x", "filename": "notes..txt"}, "filename", ".."),
    ({"text": "x", "filename": ".bashrc"}, "filename", "start with"),
    ({"text": "x", "filename": "a\nb.txt"}, "filename", "control characters"),
    ({"text": "x", "filename": "con:stream.txt"}, "filename", "contain any of"),
]


async def test_bad_input_is_refused_naming_the_field(client_for, home: Path) -> None:
    problems = []
    async with client_for("alice") as c:  # one client for the whole table: a server per case costs more
        for args, field, rule in BAD_INPUT:
            result = await c.call_tool("add_document", {"title": "Doc", **args})
            message = error(result) if result.is_error else "(no error)"
            if not (message.startswith(f"{field}: ") and rule in message):
                problems.append(f"{str(args)[:60]}: wanted '{field}: ...{rule}...', got {message[:160]!r}")
            elif await total_documents(c) or ok(await c.call_tool("search_memory", {"query": "x", "top_k": 50}))["hits"]:
                problems.append(f"{str(args)[:60]}: failed but wrote something")
    assert not problems, "\n".join(problems)
    assert not list((home / "documents").glob("*/*"))


async def test_oversized_documents_are_refused_before_decoding(client_for, home: Path) -> None:
    async with client_for("alice", max_document_bytes=2048, max_user_document_bytes=4096) as c:
        too_big = b64(b"a" * 2100)
        message = error(await c.call_tool("add_document", {"title": "Big", "content_base64": too_big,
                                                           "mime_type": "text/plain"}))
        assert message.startswith("content_base64: ") and "2048" in message
        # An over-long base64 string is refused on its length alone, even when it is not valid base64.
        message = error(await c.call_tool("add_document", {"title": "Big", "content_base64": "!" * 10_000}))
        assert message.startswith("content_base64: ") and "limit" in message
        message = error(await c.call_tool("add_document", {"title": "Big", "text": "é" * 1500}))  # 3000 bytes
        assert message.startswith("content: ") and "2048" in message
        assert await total_documents(c) == 0
        assert not list((home / "documents").glob("*/*"))


async def test_the_per_user_limit_counts_all_documents(client_for, home: Path) -> None:
    async with client_for("alice", max_document_bytes=2048, max_user_document_bytes=4096) as c:
        ok(await c.call_tool("add_document", {"title": "One", "text": "a " * 1000}))
        ok(await c.call_tool("add_document", {"title": "Two", "text": "b " * 1000}))
        message = error(await c.call_tool("add_document", {"title": "Three", "text": "c " * 100}))
        assert message.startswith("content: ") and "storage limit of 4096 bytes (4000 used)" in message
        assert await total_documents(c) == 2
        assert len(list((home / "documents").glob("*/*"))) == 2  # the refused bytes were not kept
    async with client_for("bob", max_document_bytes=2048, max_user_document_bytes=4096) as c:
        ok(await c.call_tool("add_document", {"title": "Bob's", "text": "d " * 1000}))  # Alice's use is not his


@pytest.mark.parametrize(("tool", "args", "field"), [
    ("list_documents", {"limit": 0}, "limit"),
    ("list_documents", {"limit": 101}, "limit"),
    ("list_documents", {"query": "q" * 201}, "query"),
    ("get_document", {"document_id": MADE_UP, "max_chars": 0}, "max_chars"),
    ("get_document", {"document_id": MADE_UP, "offset": -1}, "offset"),
])
async def test_reading_tools_check_their_arguments(client_for, tool, args, field) -> None:
    async with client_for("alice") as c:
        assert error(await c.call_tool(tool, args)).startswith(f"{field}: ")


@pytest.mark.parametrize("document_id", [MADE_UP, "not-a-uuid", "../../etc/passwd", ""])
async def test_unknown_ids_read_as_not_found(client_for, document_id) -> None:
    async with client_for("alice") as c:
        for tool in ("get_document", "delete_document"):
            assert error(await c.call_tool(tool, {"document_id": document_id})) == f"document not found: {document_id}"


# -- cross-user -----------------------------------------------------------------------------------


async def test_bob_can_neither_list_read_search_attach_nor_delete_alices(client_for, runtime) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        doc = (await add_lease(alice))["document"]
        assert ok(await bob.call_tool("list_documents", {"query": "lease"}))["documents"] == []
        assert ok(await bob.call_tool("list_documents", {}))["total"] == 0
        hits = ok(await bob.call_tool("search_memory", {"query": "cat landlord rent lease", "top_k": 50}))["hits"]
        assert hits == []
        for tool in ("get_document", "delete_document"):
            hers = error(await bob.call_tool(tool, {"document_id": doc["id"]}))
            made_up = error(await bob.call_tool(tool, {"document_id": MADE_UP}))
            assert hers.replace(doc["id"], "<id>") == made_up.replace(MADE_UP, "<id>")
        for uri in (doc["uri"], doc["original_uri"]):
            with pytest.raises(MCPError) as hers:
                await bob.read_resource(uri)
            with pytest.raises(MCPError) as made_up:
                await bob.read_resource(uri.replace(doc["id"], MADE_UP))
            assert str(hers.value).replace(doc["id"], "<id>") == str(made_up.value).replace(MADE_UP, "<id>")
        assert json.loads((await bob.read_resource("jarvis://me/documents")).contents[0].text)["documents"] == []
        # Still all there for Alice.
        assert ok(await alice.call_tool("get_document", {"document_id": doc["id"]}))["document"]["id"] == doc["id"]
    bob_docs = runtime("bob")
    service = bob_docs.scope_for(bob_docs.local_user_id()).documents
    with pytest.raises(NotFound) as hers:
        service.attachment(doc["id"])
    with pytest.raises(NotFound) as made_up:
        service.attachment(MADE_UP)
    assert str(hers.value).replace(doc["id"], "<id>") == str(made_up.value).replace(MADE_UP, "<id>")


async def test_the_same_content_is_separate_per_user(client_for) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        hers = (await add_lease(alice))["document"]["id"]
        his = await add_lease(bob)
        assert his["created"] is True and his["document"]["id"] != hers
        ok(await bob.call_tool("delete_document", {"document_id": his["document"]["id"]}))
        original = await alice.read_resource(f"jarvis://me/documents/{hers}/original")
        assert base64.b64decode(original.contents[0].blob) == LEASE_MD.encode()


# -- the service: attachments, failures, repair --------------------------------------------------------


def test_attachment_gives_the_mailer_name_type_and_bytes(runtime) -> None:
    rt = runtime("alice")
    docs = rt.scope_for(rt.local_user_id()).documents
    data = make_pdf(["Invoice 2024-031 for the roof repair, 1,200 EUR."])
    added = docs.add_bytes(data, title="Roof invoice", filename="roof-invoice.pdf", mime_type="application/pdf")
    attachment = docs.attachment(added.document.id)
    assert (attachment.filename, attachment.mime_type, attachment.data) == ("roof-invoice.pdf", "application/pdf", data)


def test_a_failed_embedding_leaves_nothing_behind(runtime, home: Path) -> None:
    rt = runtime("alice")
    docs = rt.scope_for(rt.local_user_id()).documents

    class Broken:
        model_id, dim = rt.embedder.model_id, rt.embedder.dim

        def embed(self, texts):
            raise RuntimeError("model crashed")

    docs.embedder = Broken()
    with pytest.raises(RuntimeError):
        docs.add("Lease", text=LEASE_MD)
    assert docs.list().total == 0 and rt.store.count_memories(rt.local_user_id()) == 0
    assert not list((home / "documents").glob("*/*"))


def test_an_interrupted_add_is_finished_by_adding_again(runtime) -> None:
    rt = runtime("alice")
    user = rt.local_user_id()
    docs = rt.scope_for(user).documents
    real = docs._index
    docs._index = lambda rec, extracted, progress=None: rec  # the process "dies" after the row, before the passages
    first = docs.add("Lease", text=LEASE_MD)
    assert first.document.passages is None and rt.store.count_memories(user) == 0
    docs._index = real
    again = docs.add("Lease", text=LEASE_MD)
    assert again.created is False and again.passages >= 1
    assert docs.info(first.document.id).passages == again.passages == rt.store.count_memories(user)


def test_filename_gets_the_detected_extension(runtime) -> None:
    rt = runtime("alice")
    docs = rt.scope_for(rt.local_user_id()).documents
    assert docs.add("Notes", text="# Hi\n\nthere", mime_type="text/markdown", filename="notes").document.filename == "notes.md"
    assert docs.add("Q3 report: final?", text="numbers").document.filename == "Q3 report_ final.txt"


# -- ingestion ------------------------------------------------------------------------------------


def test_detect_type_trusts_bytes_over_declarations() -> None:
    pdf = make_pdf(["x"])
    assert detect_type(pdf, "text/plain", "notes.txt") == "application/pdf"
    assert detect_type(b"# Title\n\ntext", None, "notes.md") == "text/markdown"
    assert detect_type(b"<!doctype html><p>x</p>", None, None) == "text/html"
    assert detect_type(b"plain", "text/html", None) == "text/html"
    assert detect_type("caf\u00e9".encode("cp1252"), None, None) == "text/plain"  # legacy 8-bit text
    with pytest.raises(InvalidInput, match="image/jpeg"):
        detect_type(b"\xff\xd8\xff\xe0" + b"\x00" * 50, "text/plain", "photo.txt")


def test_chunks_follow_paragraphs_and_headings_with_overlap() -> None:
    sentences = " ".join(f"Sentence number {i} says something about the boiler." for i in range(120))
    blocks = [Block("Manual", heading=1), Block("Short intro."), Block("Maintenance", heading=2),
              Block(sentences), Block("Safety", heading=2), Block("Never open the gas valve yourself.")]
    chunks = chunk_blocks(blocks)
    assert all(len(c.body) <= 1200 for c in chunks)
    middle = [c for c in chunks if c.headings == ("Manual", "Maintenance")]
    assert len(middle) >= 4 and all(len(c.body) >= 800 for c in middle[:-1])
    for before, after in zip(middle, middle[1:], strict=False):
        assert before.body[-100:] in after.body  # ~150 characters carried over
        assert after.carried > 0 and before.body.endswith(after.body[: after.carried - 2])
    assert chunks[-1].headings == ("Manual", "Safety") and chunks[-1].text.startswith("Manual › Safety\n")
    assert "Sentence number 0 " in chunks[0].body or "Short intro." in chunks[0].body


def test_long_passages_are_embedded_as_two_halves_with_their_context() -> None:
    body = " ".join(f"Clause {i} covers the boiler." for i in range(40))
    halves = embedding_texts("Lease", Chunk(f"Terms\n{body}", body, ("Terms",), None, None))
    assert len(halves) == 2 and all(h.startswith("Lease › Terms\n") for h in halves)
    assert halves[0].endswith("boiler.") and abs(len(halves[0]) - len(halves[1])) < 60
    assert "".join(h.split("\n", 1)[1] + " " for h in halves).strip() == body
    assert embedding_texts("Lease", Chunk("short", "short", (), None, None)) == ["Lease\nshort"]
    # The overlap from the passage before is not embedded twice.
    assert embedding_texts("Lease", Chunk("x", "tail of before\n\nnew text", (), None, None, 16)) == ["Lease\nnew text"]


def test_markdown_code_fences_are_not_headings() -> None:
    blocks = markdown_blocks("# Real\n\n```\n# not a heading\n```\n\n## Also real\n\ntext")
    assert [(b.heading, b.text) for b in blocks if b.heading] == [(1, "Real"), (2, "Also real")]


def test_pdf_pages_are_labelled() -> None:
    extracted = extract(make_pdf(["First page words.", "Second page words."]), "application/pdf")
    assert extracted.pages == 2
    chunks = chunk_blocks(extracted.blocks)
    assert chunks[0].text.startswith("pp. 1–2\n") or chunks[0].text.startswith("p. 1\n")


# -- the import command ---------------------------------------------------------------------------


def test_import_documents_from_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "papers"
    (folder / "sub").mkdir(parents=True)
    (folder / "lease.md").write_text(LEASE_MD)
    (folder / "sub" / "appliances.pdf").write_bytes(make_pdf(["The dishwasher warranty ends in August 2027."]))
    (folder / "photo.png").write_bytes(PNG)
    (folder / ".hidden.txt").write_text("hidden")
    (folder / "sub" / "passwd.txt").symlink_to("/etc/passwd")
    home = tmp_path / "home"
    done = run_cli(["import", "documents", str(folder)], home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 2 new documents (") and "3 skipped" in done.stdout
    assert "[##############################] 2/2" in done.stderr and "passwd.txt: hidden or a symlink" in done.stderr
    again = run_cli(["import", "documents", str(folder / "lease.md"), str(folder / "photo.png")], home=home)
    assert again.returncode == 1 and "0 new documents" in again.stdout and "1 already stored, 1 failed" in again.stdout
    assert "unsupported type image/png" in again.stderr
