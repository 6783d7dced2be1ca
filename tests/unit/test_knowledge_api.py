"""``/knowledge`` in process (TestClient): sources, sync, search, documents, uploads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from tests.unit.helpers import small_system
from tests.unit.knowledge_files import make_pdf

Api = tuple[TestClient, dict[str, str], dict[str, str], Path]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    docs = tmp_path / "docs"  # the data directory is an allowed root
    docs.mkdir()
    (docs / "eggs.md").write_text("# Eggs\n\nBoil an egg for seven minutes.\n")
    (docs / "bread.txt").write_text("Bake bread at two hundred degrees.\n")
    system = small_system(
        tmp_path,
        knowledge={"max_upload_mb": 0.01, "chunk_words": 32, "chunk_overlap": 4},
        server={"max_request_bytes": 1024},
    )
    with TestClient(create_app(system)) as client:
        admin = system.tokens.create("root", "admin").secret
        user = system.tokens.create("bob", "user").secret
        yield (
            client,
            {"Authorization": f"Bearer {admin}"},
            {"Authorization": f"Bearer {user}"},
            docs,
        )


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body["error"]) == {"type", "message", "details"}
    return dict(body["error"])


def add_docs(api: Api) -> dict[str, Any]:
    client, admin, _, docs = api
    response = client.post(
        "/knowledge/cooking/sources", json={"location": str(docs)}, headers=admin
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_adding_a_source_syncs_it_and_reports_counts(api: Api) -> None:
    body = add_docs(api)
    assert body["source"]["status"] == "ok" and body["source"]["documents"] == 2
    assert body["report"]["added"] == 2 and body["report"]["errors"] == []


def test_collections_list_counts_documents_chunks_and_sources(api: Api) -> None:
    client, _, user, _ = api
    add_docs(api)
    overview = client.get("/knowledge", headers=user).json()
    assert overview["collections"] == [
        {"name": "cooking", "documents": 2, "chunks": 2, "sources": 1}
    ]
    assert overview["max_documents"] == 10_000
    assert client.get("/knowledge/cooking", headers=user).json()["documents"] == 2
    assert client.get("/knowledge/nothing", headers=user).status_code == 404


def test_changes_need_an_admin_token(api: Api) -> None:
    client, _, user, docs = api
    response = client.post("/knowledge/cooking/sources", json={"location": str(docs)}, headers=user)
    assert response.status_code == 403 and error_of(response)["type"] == "forbidden"
    assert client.get("/knowledge/cooking/sources").status_code == 401


def test_path_outside_the_allowed_roots_is_422(api: Api, tmp_path: Path) -> None:
    client, admin, _, _ = api
    response = client.post("/knowledge/cooking/sources", json={"location": "/etc"}, headers=admin)
    assert response.status_code == 422
    assert "knowledge.allowed_roots" in error_of(response)["message"]


def test_unknown_field_in_a_source_is_422(api: Api) -> None:
    client, admin, _, docs = api
    body = {"location": str(docs), "recursive": True}
    response = client.post("/knowledge/cooking/sources", json=body, headers=admin)
    assert response.status_code == 422 and "recursive" in error_of(response)["message"]


def test_sources_list_shows_last_sync_status(api: Api) -> None:
    client, _, user, _ = api
    source_id = add_docs(api)["source"]["id"]
    (source,) = client.get("/knowledge/cooking/sources", headers=user).json()["sources"]
    assert source["id"] == source_id and source["status"] == "ok"
    assert source["last_report"]["added"] == 2 and source["sync_finished"]
    shown = client.get(f"/knowledge/cooking/sources/{source_id}", headers=user).json()
    assert shown["location"] == source["location"]
    assert client.get(f"/knowledge/other/sources/{source_id}", headers=user).status_code == 404


def test_sync_one_source_or_all(api: Api) -> None:
    client, admin, _, docs = api
    source_id = add_docs(api)["source"]["id"]
    (docs / "bread.txt").write_text("Bake rye bread slowly.\n")
    one = client.post("/knowledge/cooking/sync", json={"source_id": source_id}, headers=admin)
    every = client.post("/knowledge/cooking/sync", headers=admin)
    assert one.json()["results"][0]["report"]["updated"] == 1
    assert every.json()["results"][0]["report"]["unchanged"] == 2


def test_removing_a_source_removes_its_documents(api: Api) -> None:
    client, admin, user, _ = api
    source_id = add_docs(api)["source"]["id"]
    response = client.delete(f"/knowledge/cooking/sources/{source_id}", headers=admin)
    assert response.json() == {"removed": source_id, "documents_removed": 2}
    search = client.get("/knowledge/cooking/search", params={"q": "egg"}, headers=user)
    assert search.json()["hits"] == []


def test_search_returns_hits_best_first(api: Api) -> None:
    client, _, user, _ = api
    add_docs(api)
    params: dict[str, str | int] = {"q": "how long to boil an egg", "mode": "keyword", "top_k": 1}
    (hit,) = client.get("/knowledge/cooking/search", params=params, headers=user).json()["hits"]
    assert hit["title"] == "Eggs" and hit["source"].endswith("eggs.md")


def test_other_search_parameters_filter_on_metadata(api: Api) -> None:
    client, _, user, docs = api
    (docs / "brot.txt").write_text("Brot backt man im Ofen bei zweihundert Grad, nicht wahr.\n")
    source_id = add_docs(api)["source"]["id"]
    params = {"q": "bread Brot", "mode": "keyword", "language": "de", "source_id": source_id}
    hits = client.get("/knowledge/cooking/search", params=params, headers=user).json()["hits"]
    assert [h["source"].rsplit("/", 1)[1] for h in hits] == ["brot.txt"]
    bad = client.get("/knowledge/cooking/search", params={"q": "x", "a b": "c"}, headers=user)
    assert bad.status_code == 422 and "filter" in error_of(bad)["message"]


@pytest.mark.parametrize("query", ['"unbalanced', "egg* OR (", "NEAR(a b) -x ^y", "col:egg"])
def test_fts_syntax_in_a_query_is_plain_text(api: Api, query: str) -> None:
    client, _, user, _ = api
    add_docs(api)
    params = {"q": query, "mode": "keyword"}
    response = client.get("/knowledge/cooking/search", params=params, headers=user)
    assert response.status_code == 200, response.text


def test_bad_search_mode_is_422(api: Api) -> None:
    client, _, user, _ = api
    response = client.get(
        "/knowledge/cooking/search", params={"q": "x", "mode": "fuzzy"}, headers=user
    )
    assert response.status_code == 422 and error_of(response)["type"] == "validation_error"


def test_upload_stores_the_file_and_ingests_it(api: Api, tmp_path: Path) -> None:
    client, admin, user, _ = api
    files = {
        "file": ("guide.pdf", make_pdf(["Knead the dough for ten minutes."]), "application/pdf")
    }
    response = client.post("/knowledge/cooking/documents", files=files, headers=admin)
    assert response.status_code == 201, response.text
    (document,) = response.json()["documents"]
    assert document["metadata"]["mime_type"] == "application/pdf"
    assert (tmp_path / "uploads" / "cooking" / "guide.pdf").is_file()
    listed = client.get("/knowledge/cooking/documents", headers=user).json()["documents"]
    assert [d["id"] for d in listed] == [document["id"]]


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd.txt", "..\\evil.txt", ".hidden.txt"])
def test_upload_name_with_a_path_is_422(api: Api, name: str, tmp_path: Path) -> None:
    client, admin, _, _ = api
    response = client.post(
        "/knowledge/cooking/documents",
        files={"file": (name, b"words", "text/plain")},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    assert "file name" in error_of(response)["message"]
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "uploads").exists()


def test_unreadable_upload_is_422_and_nothing_is_kept(api: Api, tmp_path: Path) -> None:
    client, admin, _, _ = api
    files = {"file": ("broken.pdf", b"%PDF-1.4 broken", "application/pdf")}
    response = client.post("/knowledge/cooking/documents", files=files, headers=admin)
    assert response.status_code == 422 and "corrupt" in error_of(response)["message"]
    assert not (tmp_path / "uploads" / "cooking" / "broken.pdf").exists()


def test_upload_over_its_limit_is_413_naming_the_setting(api: Api) -> None:
    client, admin, _, _ = api
    files = {"file": ("big.txt", b"word " * 4000, "text/plain")}  # 20 kB > 0.01 MB
    response = client.post("/knowledge/cooking/documents", files=files, headers=admin)
    assert response.status_code == 413
    assert "knowledge.max_upload_mb" in error_of(response)["message"]


def test_uploads_may_be_larger_than_other_request_bodies(api: Api) -> None:
    client, admin, _, docs = api
    text = b"word " * 1500  # 7.5 kB: over the 1 kB request limit, under the upload limit
    files = {"file": ("words.txt", text, "text/plain")}
    upload = client.post("/knowledge/cooking/documents", files=files, headers=admin)
    body = {"location": str(docs), "include": ["x" * 400] * 3}
    other = client.post("/knowledge/cooking/sources", json=body, headers=admin)
    assert (upload.status_code, other.status_code) == (201, 413)
    assert "server.max_request_bytes" in error_of(other)["message"]


def test_document_can_be_shown_and_deleted(api: Api) -> None:
    client, admin, user, _ = api
    add_docs(api)
    document = client.get("/knowledge/cooking/documents", headers=user).json()["documents"][0]
    path = f"/knowledge/cooking/documents/{document['id']}"
    assert client.get(path, headers=user).json()["title"] == document["title"]
    assert (
        client.get(f"/knowledge/other/documents/{document['id']}", headers=user).status_code == 404
    )
    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path, headers=user).status_code == 404
