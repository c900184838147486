"""Stored text shown to a model: one block format, with every tag-like sequence in it defused.

A leaf module (no jarvis imports) so tools, resources, prompts and services can all use it.

Anything stored (a memory, a document, a contact's name, a transcript, an event from someone else's
invitation) may have been written by an attacker. Models read tags loosely: `</DOCUMENT>`, `< /memory >`,
`＜/memory＞` or `<\u200b/data>` closes a block as surely as the exact tag does, and a tag with another
name can pass for the end of a block (or of the client's own wrapper). So every bracket that starts
something tag-like is replaced, whatever the name, and a block's own tags are the only real ones in it.
"""

from __future__ import annotations

import re
import unicodedata

# Brackets a model may take for "<": its NFKC variants (＜ ﹤) and look-alikes NFKC keeps apart.
# tests/test_untrusted.py checks that every code point whose NFKC form is "<" is here.
_OPENERS = "<\uff1c\ufe64\u2039\u2329\u3008\u27e8\u276c\u276e\u29fc\u02c2\u1438\u2aa1\u300a"
_CLOSERS = ">\uff1e\ufe65\u203a\u232a\u3009\u27e9\u276d\u276f\u29fd\u02c3\u1433\u2aa2\u300b"
_SLASHES = frozenset("/\\\uff0f\u2044\u2215\u29f8\u2571\u27cb\ufe68\uff3c")
# What may sit between the bracket and the name and still leave a tag for the reader: besides spaces and
# slashes, characters that render as nothing or ride on the one before (zero-width and bidi controls,
# Unicode "tag" characters, variation selectors, combining marks).
_SKIPPED_CATEGORIES = frozenset({"Cf", "Cc", "Mn", "Me"})
_TAG_CHARS = range(0xE0020, 0xE007F)  # invisible copies of ASCII that some models still read as ASCII
_OPENER = re.compile(f"[{_OPENERS}]")
_ATTR_ESCAPES = {"&": "&amp;", '"': "&quot;", "\uff02": "&quot;"}
_NAME = re.compile(r"[a-z][a-z0-9_-]*")
# An address or Message-ID in angle brackets (`Ana <ana@example.com>`, `<uuid@jarvis-mcp>`) names no tag:
# kept as written, or a Message-ID the model must hand back (reply_to_message_id) would change with the
# first character of a random id.
_ANGLE_ADDR = re.compile(r"<[A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+>")


def _visible(char: str) -> str:
    if ord(char) in _TAG_CHARS:
        char = chr(ord(char) - 0xE0000)
    return unicodedata.normalize("NFKC", char)[:1]


def _starts_name(char: str) -> bool:
    head = _visible(char)
    return head.isalpha() or head in ("!", "?")


def _skipped(char: str) -> bool:
    return char.isspace() or char in _SLASHES or unicodedata.category(char) in _SKIPPED_CATEGORIES


def _opens_tag(text: str, at: int) -> bool:
    # A scan stops at the first character not skipped, and brackets are never skipped: all the scans
    # together read the text once, however many brackets it holds.
    for i in range(at + 1, len(text)):
        char = text[i]
        if not _skipped(char):
            return _starts_name(char)
        if ord(char) in _TAG_CHARS and _starts_name(char):
            return True
    return False


def defuse(text: str) -> str:
    """`text` with every bracket that opens something tag-like (`<x`, `</x`, `< / X`, `＜/x`, `<\u200b/x`,
    `<!`, `<?`) written as `&lt;`. A bracket before anything else (`x < 3`, `<3`, `<-`, an address such as
    `<ana@example.com>`) is left as it was."""
    parts, last = [], 0
    for match in _OPENER.finditer(text):
        if _opens_tag(text, match.start()) and not _ANGLE_ADDR.match(text, match.start()):
            parts += [text[last:match.start()], "&lt;"]
            last = match.end()
    return "".join(parts) + text[last:] if parts else text


def _attr(value: object) -> str:
    out = []
    for char in str(value):
        if char in _ATTR_ESCAPES:
            out.append(_ATTR_ESCAPES[char])
        elif char in _OPENERS:
            out.append("&lt;")
        elif char in _CLOSERS:
            out.append("&gt;")
        elif _skipped(char) and char not in _SLASHES:
            out.append(" ")  # line breaks and invisible characters: an attribute stays one visible line
        else:
            out.append(char)
    return re.sub(" {2,}", " ", "".join(out))


def data_block(tag: str, text: str, /, **attrs: object) -> str:
    """Stored text as one delimited block, `<tag a="…">\\ntext\\n</tag>`, whose own tags are the only ones
    in it. `tag` and attribute names come from code; attribute values and `text` may come from anyone.
    Empty attributes (None, "", []) are left out to keep the block short."""
    if not _NAME.fullmatch(tag) or not all(_NAME.fullmatch(k) for k in attrs):
        raise ValueError(f"not a block or attribute name: {tag!r} {list(attrs)!r}")
    head = "".join(f' {k}="{_attr(v)}"' for k, v in attrs.items() if v not in (None, "", []))
    return f"<{tag}{head}>\n{defuse(text)}\n</{tag}>"
