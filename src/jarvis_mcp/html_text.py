"""The readable text of an HTML page or message body: what a person would see, one line per block.

Both a stored HTML document (split into headed paragraphs for search) and an HTML email (its plain-text
alternative) need the same reading, so there is one parser. A leaf module: standard library only."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

# Content a reader never sees in the page; the <title> is kept apart, wherever it appears.
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "title", "iframe", "object"})
_BLOCK = frozenset({
    "p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "li", "ul", "ol", "table", "tr",
    "blockquote", "pre", "br", "hr", "dd", "dt", "dl", "figure", "figcaption", "form", "address", "details",
    "summary", "caption", "h1", "h2", "h3", "h4", "h5", "h6",
})


@dataclass(frozen=True)
class Line:
    text: str  # whitespace collapsed, except inside <pre>, where line breaks and indentation are content
    heading: int = 0  # 1-6 for <h1>..<h6>, else 0


@dataclass(frozen=True)
class HtmlText:
    lines: tuple[Line, ...]
    title: str | None

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities (&amp; &nbsp; &eacute; &#8364;) arrive decoded
        self.lines: list[Line] = []
        self._buf: list[str] = []
        self._title: list[str] = []
        self._skip = 0
        self._heading = 0
        self._pre = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag == "body":
            self._skip = 0  # an unclosed <head> must not hide the whole page
        elif tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCK:
            self._flush()
            if tag[0] == "h" and tag[1:].isdigit():
                self._heading = int(tag[1:])
            elif tag == "pre":
                self._pre += 1
        elif tag in ("td", "th"):
            self._buf.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> and <hr/> break the line; a self-closed <svg/> or <script/> has nothing to skip.
        if tag in ("br", "hr"):
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self._flush()
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        if not self._skip:
            self._buf.append(data)

    def _flush(self) -> None:
        raw = "".join(self._buf)
        self._buf.clear()
        if self._pre:
            text = "\n".join(row.rstrip() for row in raw.split("\n")).strip("\n")
        else:
            text = " ".join(raw.split())
        if text:
            self.lines.append(Line(text, self._heading))
        self._heading = 0

    def result(self) -> HtmlText:
        self.close()
        self._flush()
        return HtmlText(tuple(self.lines), " ".join("".join(self._title).split()) or None)


def parse_html(source: str) -> HtmlText:
    """The visible text of `source` as lines (one per paragraph, heading, list item, table row or
    line break) and the page title. Scripts, styles and the head are dropped; entities are decoded."""
    parser = _Parser()
    parser.feed(source)
    return parser.result()


def html_to_text(source: str) -> str:
    """The visible text of `source`, one line per block: the plain-text reading of an HTML body."""
    return parse_html(source).text
