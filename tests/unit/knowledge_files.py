"""Small real documents for knowledge tests, made by code: PDF, DOCX, and a local web server."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import docx


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[str], title: str | None = None, author: str | None = None) -> bytes:
    """A valid PDF with one line of Helvetica text per page and an info dictionary."""
    count = len(pages)
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [{}] /Count {} >>".format(
            " ".join(f"{3 + 2 * i} 0 R" for i in range(count)), count
        ),
    ]
    font = 3 + 2 * count
    for i, text in enumerate(pages):
        stream = f"BT /F1 18 Tf 72 720 Td ({_pdf_string(text)}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    info = []
    if title:
        info.append(f"/Title ({_pdf_string(title)})")
    if author:
        info.append(f"/Author ({_pdf_string(author)})")
    objects.append(f"<< {' '.join(info)} >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def make_docx(paragraphs: list[str], title: str = "", author: str = "") -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.core_properties.title = title
    document.core_properties.author = author
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@dataclass
class Page:
    """What the test server answers for one path; ``requests`` records request headers."""

    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    requests: list[dict[str, str]] = field(default_factory=list)


@dataclass
class WebSite:
    url: str
    pages: dict[str, Page]


def _handler(pages: dict[str, Page]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_GET(self) -> None:
            page = pages.get(self.path)
            if page is None:
                self.send_error(404)
                return
            page.requests.append({k.lower(): v for k, v in self.headers.items()})
            if page.etag and self.headers.get("If-None-Match") == page.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(page.status)
            self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(page.body)))
            if page.etag:
                self.send_header("ETag", page.etag)
            if page.last_modified:
                self.send_header("Last-Modified", page.last_modified)
            self.end_headers()
            self.wfile.write(page.body)

    return Handler


@contextmanager
def web_site(pages: dict[str, Page]) -> Iterator[WebSite]:
    """A real HTTP server on loopback serving ``pages`` until the block ends."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(pages))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield WebSite(f"http://127.0.0.1:{httpd.server_address[1]}", pages)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
