"""Reading every supported format into documents with metadata, and refusing bad files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from smolit.errors import ValidationError
from smolit.knowledge.extraction import detect_language, extract, read_file
from tests.unit.knowledge_files import make_docx, make_pdf

ENGLISH = "The quick brown fox jumps over the lazy dog near the quiet river bank."
GERMAN = "Der schnelle braune Fuchs springt über den faulen Hund am ruhigen Flussufer."


def one(data: bytes, name: str) -> tuple[str, str, dict[str, object]]:
    (document,) = extract(data, name, f"/docs/{name}")
    return document.title, document.text, document.metadata


def test_text_file_metadata_has_type_size_checksum_source_and_language() -> None:
    data = ENGLISH.encode()
    title, text, meta = one(data, "fox.txt")
    assert (title, text) == ("fox", ENGLISH)
    assert meta["mime_type"] == "text/plain" and meta["size"] == len(data)
    assert meta["checksum"] == hashlib.sha256(data).hexdigest()
    assert meta["source"] == "/docs/fox.txt" and meta["language"] == "en"


def test_language_is_detected_per_document() -> None:
    assert detect_language(GERMAN) == "de"
    assert detect_language("42 17") is None


def test_markdown_front_matter_gives_title_and_author() -> None:
    data = f"---\ntitle: Foxes\nauthor: Ada\ndate: 2024-05-01\n---\n# Heading\n\n{ENGLISH}\n"
    title, text, meta = one(data.encode(), "fox.md")
    assert title == "Foxes" and meta["author"] == "Ada" and meta["created"] == "2024-05-01"
    assert "title:" not in text


def test_html_keeps_visible_text_and_reads_title_and_meta() -> None:
    page = (
        "<html lang='en'><head><title>Fox page</title><meta name='author' content='Ada'>"
        "<style>p { color: red }</style><script>var secret = 1;</script></head>"
        f"<body><h1>Foxes</h1><p>{ENGLISH}</p><p>Second &amp; last.</p></body></html>"
    )
    title, text, meta = one(page.encode(), "fox.html")
    assert title == "Fox page" and meta["author"] == "Ada" and meta["language"] == "en"
    assert text == f"Foxes\n\n{ENGLISH}\n\nSecond & last."


def test_pdf_text_comes_page_by_page_with_its_properties() -> None:
    data = make_pdf([ENGLISH, "Second page text"], title="Fox guide", author="Ada")
    title, text, meta = one(data, "fox.pdf")
    assert title == "Fox guide" and meta["author"] == "Ada" and meta["pages"] == 2
    assert text == f"{ENGLISH}\n\nSecond page text"
    assert meta["mime_type"] == "application/pdf"


def test_corrupt_pdf_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="corrupt or unreadable PDF"):
        extract(b"%PDF-1.4\nthis is not really a pdf", "broken.pdf", "broken.pdf")


def test_docx_paragraphs_and_core_properties() -> None:
    data = make_docx([ENGLISH, "Another paragraph."], title="Fox memo", author="Ada")
    title, text, meta = one(data, "memo.docx")
    assert (title, meta["author"]) == ("Fox memo", "Ada")
    assert text == f"{ENGLISH}\n\nAnother paragraph."


def test_corrupt_docx_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="corrupt or unreadable DOCX"):
        extract(b"PK\x03\x04 not a zip at all", "broken.docx", "broken.docx")


def test_beir_jsonl_is_one_document_per_line_keyed_by_id() -> None:
    lines = [
        {"_id": "d1", "title": "Foxes", "text": ENGLISH},
        {"_id": "d2", "title": "", "text": "Dogs sleep all day."},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    documents = extract(data, "corpus.jsonl", "/data/corpus.jsonl")
    assert [(d.key, d.title) for d in documents] == [("d1", "Foxes"), ("d2", "corpus#d2")]
    assert documents[0].metadata["source"] == "/data/corpus.jsonl#d1"


def test_jsonl_with_a_broken_line_names_the_line() -> None:
    data = b'{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n'
    with pytest.raises(ValidationError, match="line 2"):
        extract(data, "corpus.jsonl", "corpus.jsonl")


def test_json_list_of_records_is_one_document_each() -> None:
    data = json.dumps([{"id": 7, "text": "seven"}, {"id": 8, "text": "eight"}]).encode()
    assert [d.key for d in extract(data, "records.json", "records.json")] == ["7", "8"]


def test_other_json_becomes_field_lines() -> None:
    _, text, _ = one(json.dumps({"name": "fox", "tags": ["red", "quick"]}).encode(), "x.json")
    assert text == "name: fox\ntags.0: red\ntags.1: quick"


def test_csv_with_a_text_column_is_one_document_per_row() -> None:
    data = b"_id,title,text\nr1,First,alpha beta\nr2,Second,gamma delta\n"
    documents = extract(data, "rows.csv", "rows.csv")
    assert [(d.key, d.title, d.text) for d in documents] == [
        ("r1", "First", "alpha beta"),
        ("r2", "Second", "gamma delta"),
    ]


def test_other_csv_is_one_document_of_rows() -> None:
    _, text, _ = one(b"city,country\nParis,France\nRome,Italy\n", "cities.csv")
    assert text == "city: Paris | country: France\ncity: Rome | country: Italy"


def test_binary_data_named_txt_is_refused() -> None:
    with pytest.raises(ValidationError, match="binary"):
        extract(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.txt", "image.txt")


def test_empty_file_is_refused() -> None:
    with pytest.raises(ValidationError, match="empty file"):
        extract(b"  \n\t", "empty.md", "empty.md")


def test_utf16_with_bom_is_read() -> None:
    _, text, meta = one(("\ufeff" + ENGLISH).encode("utf-16-le"), "wide.txt")
    assert text == ENGLISH and meta["encoding"] == "utf-16"


def test_latin1_text_is_read_with_a_note() -> None:
    _, text, meta = one("Crème brûlée au café".encode("latin-1"), "dessert.txt")
    assert text == "Crème brûlée au café"
    assert "not UTF-8" in str(meta["encoding_note"])


def test_unsupported_suffix_lists_the_supported_ones() -> None:
    with pytest.raises(ValidationError, match=r"unsupported file type \.exe.*\.pdf"):
        extract(b"MZ", "tool.exe", "tool.exe")


def test_file_over_the_size_cap_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 100)
    with pytest.raises(ValidationError, match=r"knowledge.max_file_mb") as caught:
        read_file(path, str(path), max_bytes=100)
    assert caught.value.details["path"] == str(path)
