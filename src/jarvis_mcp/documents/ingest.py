"""Documents in, passages out: content type detection, text extraction (text, Markdown, HTML, PDF) and
chunking into overlapping passages that follow paragraphs and headings. Pure functions, no I/O."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field

from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.html_text import parse_html

log = logging.getLogger(__name__)

PDF, TEXT, MARKDOWN, HTML = "application/pdf", "text/plain", "text/markdown", "text/html"
SUPPORTED_TYPES = (PDF, TEXT, MARKDOWN, HTML)
EXTENSIONS = {PDF: ".pdf", TEXT: ".txt", MARKDOWN: ".md", HTML: ".html"}
_ALIASES = {
    "text/x-markdown": MARKDOWN, "text/x-web-markdown": MARKDOWN, "application/xhtml+xml": HTML,
    "application/x-pdf": PDF, "text/x-pdf": PDF,
}
_BY_EXTENSION = {".md": MARKDOWN, ".markdown": MARKDOWN, ".mdown": MARKDOWN, ".html": HTML, ".htm": HTML,
                 ".xhtml": HTML, ".txt": TEXT, ".text": TEXT, ".pdf": PDF}

# Binary formats we can name when we refuse them; a clear "image/png is not supported" beats "not text".
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"), (0, b"\xff\xd8\xff", "image/jpeg"), (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"), (0, b"BM", "image/bmp"), (0, b"II*\x00", "image/tiff"), (0, b"MM\x00*", "image/tiff"),
    (0, b"PK\x03\x04", "application/zip"), (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"\x1f\x8b", "application/gzip"), (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!", "application/vnd.rar"), (0, b"{\\rtf", "application/rtf"), (0, b"\x7fELF", "application/x-executable"),
    (0, b"MZ", "application/x-msdownload"), (0, b"OggS", "audio/ogg"), (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"), (4, b"ftyp", "video/mp4"), (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
)
_ZIP_BY_EXTENSION = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text", ".epub": "application/epub+zip",
}

CHUNK_MAX = 1200  # characters of passage body: enough context for a reader of the passage
CHUNK_MIN_SECTION = 400  # a section shorter than this shares its passage with the next one
OVERLAP = 150
# all-MiniLM-L6-v2 was trained on inputs of at most 128 word pieces (~550 characters of English). A longer
# passage is embedded as two halves whose vectors are averaged: closer to what the model knows, and ~20%
# less compute than one 256-token pass, since attention grows with the square of the length.
EMBED_HALVES_OVER = 700


def _unsupported(kind: str) -> InvalidInput:
    return InvalidInput("content", f"unsupported type {kind}; supported: {', '.join(SUPPORTED_TYPES)}")


def normalise_mime(field_name: str, mime_type: str | None) -> str | None:
    """The declared type, lower-cased without parameters; an unsupported declaration is refused by name."""
    if mime_type is None or not mime_type.strip():
        return None
    essence = mime_type.split(";", 1)[0].strip().lower()
    essence = _ALIASES.get(essence, essence)
    if essence not in SUPPORTED_TYPES:
        raise InvalidInput(field_name, f"unsupported type {essence}; supported: {', '.join(SUPPORTED_TYPES)}")
    return essence


def _extension(filename: str | None) -> str:
    if not filename or "." not in filename:
        return ""
    return "." + filename.rsplit(".", 1)[1].lower()


def detect_type(data: bytes, declared: str | None, filename: str | None) -> str:
    """The type the bytes really are. Magic numbers decide binary formats (whatever was declared); text is
    then told apart as HTML / Markdown / plain by the declaration, the file name, or a look at the start."""
    if data.startswith(b"%PDF-") or data[:1024].lstrip().startswith(b"%PDF-"):
        return PDF
    for offset, magic, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if kind == "application/zip":
                kind = _ZIP_BY_EXTENSION.get(_extension(filename), kind)
            raise _unsupported(kind)
    if declared == PDF:
        raise InvalidInput("mime_type", "says application/pdf but the content is not a PDF (no %PDF- header)")
    if decode_text(data) is None:
        raise _unsupported("application/octet-stream (binary data that is not text)")
    if declared in (TEXT, MARKDOWN, HTML):
        return declared
    by_name = _BY_EXTENSION.get(_extension(filename))
    if by_name in (TEXT, MARKDOWN, HTML):
        return by_name
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return HTML
    return TEXT


def decode_text(data: bytes) -> str | None:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252 if it reads as text; None for binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    controls = sum(1 for c in text if (c < " " and c not in "\t\n\r\f") or c == "\ufffd")
    return text if controls <= len(text) // 100 else None


# -- extraction ---------------------------------------------------------------------------------------


@dataclass
class Block:
    text: str
    heading: int = 0  # 1-6 for a heading, 0 for a paragraph
    page: int | None = None


@dataclass
class Extracted:
    text: str  # what get_document returns
    blocks: list[Block]
    pages: int | None = None
    title: str | None = None
    warnings: list[str] = field(default_factory=list)


def extract(data: bytes, mime_type: str) -> Extracted:
    if mime_type == PDF:
        return _pdf(data)
    text = decode_text(data) or ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if mime_type == HTML:
        return _html(text)
    if mime_type == MARKDOWN:
        return Extracted(text.strip(), markdown_blocks(text))
    return Extracted(text.strip(), [Block(p) for p in _paragraphs(text)])


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    para: list[str] = []
    fenced = False

    def end_paragraph() -> None:
        if para:
            joined = "\n".join(para).strip()
            if joined:
                blocks.append(Block(joined))
            para.clear()

    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            para.append(line)
            continue
        if not fenced:
            heading = _HEADING.match(line)
            if heading:
                end_paragraph()
                blocks.append(Block(heading.group(2).strip(), heading=len(heading.group(1))))
                continue
            if not line.strip():
                end_paragraph()
                continue
        para.append(line)
    end_paragraph()
    return blocks


def _html(source: str) -> Extracted:
    page = parse_html(source)
    blocks = [Block(line.text, heading=line.heading) for line in page.lines]
    lines = [("#" * b.heading + " " if b.heading else "") + b.text for b in blocks]
    return Extracted("\n\n".join(lines), blocks, title=page.title)


def _pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader

    warnings: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidInput("content", "the PDF is password-protected; remove the password and add it again")
        pages = [page.extract_text() or "" for page in reader.pages]
    except InvalidInput:
        raise
    except Exception as exc:  # a hostile PDF can break pypdf in many ways; all mean "unreadable"
        log.info("unreadable PDF: %r", exc)
        raise InvalidInput("content", "not a readable PDF (damaged or unsupported structure)") from None
    blocks: list[Block] = []
    texts: list[str] = []
    for number, raw in enumerate(pages, 1):
        page_text = raw.replace("\r\n", "\n").replace("\r", "\n")
        texts.append(page_text.strip())
        for para in _paragraphs(page_text):
            # PDF lines break wherever the layout did; join them, mending words hyphenated across lines.
            joined = re.sub(r"-\n(?=[a-z])", "", para)
            blocks.append(Block(" ".join(joined.split()), page=number))
    if not blocks and pages:
        warnings.append("no text could be extracted (a scanned PDF?); it is stored and attachable, not searchable")
    title = None
    try:
        meta_title = reader.metadata.title if reader.metadata else None
        title = str(meta_title).strip() or None if meta_title else None
    except Exception:  # metadata is a nicety; a broken info dict must not fail the upload
        title = None
    return Extracted("\n\n".join(t for t in texts if t), blocks, pages=len(pages), title=title, warnings=warnings)


# -- chunking -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    text: str  # header line (heading path, pages) + body: what is stored and shown
    body: str
    headings: tuple[str, ...]
    first_page: int | None
    last_page: int | None
    carried: int = 0  # characters at the start of body repeated from the passage before (the overlap)


def _split_long(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut between sentences, else between words."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in re.split(r"(?<=[.!?;:])\s+", text):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return [p for p in pieces if p]


def _tail(text: str, size: int) -> str:
    if len(text) <= size:
        return text
    tail = text[-size:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < size // 2 else tail


def _header(headings: tuple[str, ...], first: int | None, last: int | None) -> str:
    parts = [" › ".join(headings)] if headings else []
    if first is not None:
        parts.append(f"p. {first}" if first == last or last is None else f"pp. {first}–{last}")
    return " · ".join(parts)


def chunk_blocks(blocks: list[Block], *, max_chars: int = CHUNK_MAX, overlap: int = OVERLAP,
                 min_section: int = CHUNK_MIN_SECTION) -> list[Chunk]:
    """Greedy passages of whole paragraphs up to max_chars; a passage that continues a section starts with
    the last ~overlap characters of the one before. A heading ends the passage, except that a section
    shorter than min_section shares its passage with what follows (its heading kept inside the text)."""
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []
    parts: list[str] = []
    size = 0
    fresh = False  # parts holds more than the carried-over overlap
    continued = False  # this passage carries on a section from the passage before
    start_path: tuple[str, ...] = ()
    first_page: int | None = None
    last_page: int | None = None

    def flush(carry: bool) -> None:
        nonlocal parts, size, fresh, continued
        if fresh:
            body = "\n\n".join(parts)
            header = _header(start_path, first_page, last_page)
            carried = len(parts[0]) + 2 if continued else 0
            chunks.append(Chunk(f"{header}\n{body}" if header else body, body, start_path, first_page, last_page,
                                carried))
        parts = [_tail(body, overlap)] if fresh and carry and overlap else []
        size = sum(len(p) + 2 for p in parts)
        fresh, continued = False, bool(parts)

    for block in blocks:
        if block.heading:
            if fresh and (size >= min_section or continued):
                flush(carry=False)
            elif not fresh:
                parts, size, continued = [], 0, False  # no overlap across a heading
            while path and path[-1][0] >= block.heading:
                path.pop()
            path.append((block.heading, block.text))
            if fresh:
                parts.append(block.text)
                size += len(block.text) + 2
            continue
        for piece in _split_long(block.text, max_chars - overlap):
            if fresh and size + len(piece) > max_chars:
                flush(carry=True)
            if not fresh:
                # Labelled by where its new text starts; the carried-over overlap is only context.
                start_path = tuple(title for _, title in path)
                first_page = block.page
            parts.append(piece)
            size += len(piece) + 2
            fresh = True
            last_page = block.page
    flush(carry=False)
    return chunks


def embedding_texts(title: str, chunk: Chunk) -> list[str]:
    """What is embedded for one passage (its vector is the mean of these): the document title and heading
    path for context, then the passage, halved at the sentence nearest the middle when it is long. The
    overlap carried over from the passage before is left out: it is there for the reader, and the passage
    before already embeds it, so every sentence is embedded once (~13% less compute)."""
    context = " › ".join((title, *chunk.headings))
    body = chunk.body[chunk.carried :] or chunk.body
    if len(body) <= EMBED_HALVES_OVER:
        return [f"{context}\n{body}"]
    middle = len(body) // 2
    cuts = [m.end() for m in re.finditer(r"[.!?;:]\s+|\n+", body)]
    cut = min(cuts, key=lambda i: abs(i - middle)) if cuts else -1
    if not len(body) // 4 <= cut <= 3 * len(body) // 4:
        cut = body.rfind(" ", 0, middle) + 1 or middle
    return [f"{context}\n{body[:cut].strip()}", f"{context}\n{body[cut:].strip()}"]
