"""URL sources against a real HTTP server on loopback: validators, types, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from smolit.config import KnowledgeSettings
from smolit.knowledge import KnowledgeManager
from smolit.security.egress import EgressPolicy
from smolit.testing import LookupEncoder
from tests.unit.knowledge_files import Page, make_pdf, web_site

HTML = b"<html><head><title>Fox facts</title></head><body><p>Foxes hunt at dusk.</p></body></html>"


def make_manager(tmp_path: Path, **settings: object) -> KnowledgeManager:
    return KnowledgeManager(
        KnowledgeSettings.model_validate({"chunk_words": 32, "chunk_overlap": 4, **settings}),
        tmp_path / "knowledge",
        lambda: LookupEncoder(),
        egress=EgressPolicy(["127.0.0.1"]),  # the test web site listens there
    )


@pytest.fixture
def manager(tmp_path: Path) -> KnowledgeManager:
    return make_manager(tmp_path)


def test_url_source_is_fetched_and_read_by_its_content_type(manager: KnowledgeManager) -> None:
    with web_site({"/fox": Page(HTML, "text/html; charset=utf-8")}) as site:
        source = manager.add_source("web", f"{site.url}/fox")
        record, report = manager.sync_source(source.id)
    assert (source.kind, report.added, record.status) == ("url", 1, "ok")
    (document,) = manager.list_documents("web")
    assert document.title == "Fox facts" and document.metadata["mime_type"] == "text/html"
    assert document.source == f"{site.url}/fox"


def test_etag_makes_the_server_answer_not_modified(manager: KnowledgeManager) -> None:
    page = Page(HTML, "text/html", etag='"v1"')
    with web_site({"/fox": page}) as site:
        source = manager.add_source("web", f"{site.url}/fox")
        manager.sync_source(source.id)
        _, report = manager.sync_source(source.id)
    assert report.unchanged == 1 and report.added == 0
    assert page.requests[1]["if-none-match"] == '"v1"'


def test_last_modified_is_sent_back(manager: KnowledgeManager) -> None:
    stamp = "Wed, 01 May 2024 10:00:00 GMT"
    page = Page(b"plain words", last_modified=stamp)
    with web_site({"/a.txt": page}) as site:
        source = manager.add_source("web", f"{site.url}/a.txt")
        manager.sync_source(source.id)
        manager.sync_source(source.id)
    assert page.requests[1]["if-modified-since"] == stamp


def test_without_validators_the_checksum_decides(manager: KnowledgeManager) -> None:
    page = Page(b"first words")
    with web_site({"/a.txt": page}) as site:
        source = manager.add_source("web", f"{site.url}/a.txt")
        manager.sync_source(source.id)
        _, same = manager.sync_source(source.id)
        page.body = b"second words"
        _, changed = manager.sync_source(source.id)
    assert (same.unchanged, changed.updated) == (1, 1)


def test_pdf_by_content_type_without_a_suffix(manager: KnowledgeManager) -> None:
    pages = {"/download": Page(make_pdf(["Foxes are clever."]), "application/pdf")}
    with web_site(pages) as site:
        _, report = manager.sync_source(manager.add_source("web", f"{site.url}/download").id)
    assert report.added == 1
    assert manager.search_sync("web", "clever", mode="keyword")[0].text == "Foxes are clever."


def test_http_error_fails_the_sync_and_keeps_documents(manager: KnowledgeManager) -> None:
    page = Page(b"kept words")
    with web_site({"/a.txt": page}) as site:
        source = manager.add_source("web", f"{site.url}/a.txt")
        manager.sync_source(source.id)
        page.status = 503
        record, _ = manager.sync_source(source.id)
    assert record.status == "error" and "HTTP 503" in (record.error or "")
    assert record.documents == 1


def test_unreachable_server_fails_the_sync(manager: KnowledgeManager) -> None:
    with web_site({}) as site:
        url = f"{site.url}/gone.txt"
    record, _ = manager.sync_source(manager.add_source("web", url).id)
    assert record.status == "error" and url in (record.error or "")


def test_unknown_content_type_is_reported(manager: KnowledgeManager) -> None:
    with web_site({"/img": Page(b"\x89PNG", "image/png")}) as site:
        record, _ = manager.sync_source(manager.add_source("web", f"{site.url}/img").id)
    assert record.status == "error" and "image/png" in (record.error or "")


def test_body_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    manager = make_manager(tmp_path, max_file_mb=0.0001)  # 100 bytes
    with web_site({"/big.txt": Page(b"word " * 100)}) as site:
        record, _ = manager.sync_source(manager.add_source("web", f"{site.url}/big.txt").id)
    assert record.status == "error" and "knowledge.max_file_mb" in (record.error or "")
    assert record.documents == 0
