"""HTML: visible text by paragraph, without scripts, styles or markup; title and meta tags."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from smolit.errors import ValidationError
from smolit.knowledge.extractors.base import ExtractedDocument, clean_metadata
from smolit.knowledge.extractors.text import decode_text

#: elements whose content is never text a reader sees
_HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "iframe"})
#: elements that end a paragraph
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th",
        "tr", "ul",
    }
)  # fmt: skip
_META = {
    "author": "author",
    "description": "description",
    "keywords": "keywords",
    "date": "created",
    "dcterms.created": "created",
    "dcterms.modified": "modified",
    "article:published_time": "created",
    "article:modified_time": "modified",
}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.current: list[str] = []
        self.title: list[str] = []
        self.meta: dict[str, str] = {}
        self.hidden_depth = 0
        self.in_title = False

    def _break(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            self.paragraphs.append(text)
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "html" and values.get("lang"):
            self.meta.setdefault("language", values["lang"])
        elif tag == "meta":
            name = (values.get("name") or values.get("property") or "").lower()
            if name in _META and values.get("content"):
                self.meta.setdefault(_META[name], values["content"])
        elif tag == "title":
            self.in_title = True
        if tag in _HIDDEN:
            self.hidden_depth += 1
        if tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _HIDDEN and self.hidden_depth:
            self.hidden_depth -= 1
        if tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.hidden_depth:
            self.current.append(data)


def extract_html(data: bytes, _name: str) -> list[ExtractedDocument]:
    decoded = decode_text(data)
    parser = _TextParser()
    try:
        parser.feed(decoded.text)
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser's own failures
        raise ValidationError(f"cannot parse HTML ({exc})") from exc
    parser._break()
    metadata: dict[str, Any] = {
        **parser.meta,
        "encoding": decoded.encoding,
        "encoding_note": decoded.note,
    }
    title = " ".join("".join(parser.title).split())
    return [ExtractedDocument(title, "\n\n".join(parser.paragraphs), clean_metadata(metadata))]
