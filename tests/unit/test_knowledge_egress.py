"""URL sources obey the egress policy: refused when added, and every hop while syncing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.config import KnowledgeSettings
from smolit.errors import EgressDeniedError
from smolit.knowledge import KnowledgeManager
from smolit.security.egress import EgressPolicy, Resolver
from smolit.testing import LookupEncoder
from tests.unit.capture_server import capture_server
from tests.unit.helpers import small_system


def make_manager(tmp_path: Path, egress: EgressPolicy) -> KnowledgeManager:
    return KnowledgeManager(
        KnowledgeSettings.model_validate({}),
        tmp_path / "knowledge",
        lambda: LookupEncoder(),
        egress=egress,
    )


def names(table: dict[str, list[str]]) -> Resolver:
    return lambda host, port: table[host]


def test_a_loopback_url_source_is_refused_when_added(tmp_path: Path) -> None:
    manager = make_manager(tmp_path, EgressPolicy())
    with capture_server() as target, pytest.raises(EgressDeniedError, match="loopback"):
        manager.add_source("web", f"{target.url}/doc.txt")
    assert manager.sources("web") == [] and not target.reached


def test_a_name_resolving_to_a_private_address_is_refused_when_added(tmp_path: Path) -> None:
    manager = make_manager(tmp_path, EgressPolicy(resolver=names({"wiki.corp": ["10.1.2.3"]})))
    with pytest.raises(EgressDeniedError, match=r"address 10.1.2.3 of wiki.corp is private"):
        manager.add_source("web", "https://wiki.corp/page")


def test_a_redirect_to_a_refused_address_fails_the_sync(tmp_path: Path) -> None:
    egress = EgressPolicy(["docs.test"], resolver=names({"docs.test": ["127.0.0.1"]}))
    manager = make_manager(tmp_path, egress)
    with capture_server() as inner, capture_server(redirect_to=f"{inner.url}/x") as outer:
        source = manager.add_source("web", f"http://docs.test:{outer.port}/doc.txt")
        record, _ = manager.sync_source(source.id)
    assert record.status == "error"
    assert "127.0.0.1 is loopback; add it to security.egress_allow" in (record.error or "")
    assert len(outer.requests) == 1 and not inner.reached


def test_a_name_rebound_to_loopback_after_the_check_fails_the_sync(tmp_path: Path) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    manager = make_manager(tmp_path, EgressPolicy(resolver=lambda host, port: next(answers)))
    with capture_server() as target:
        source = manager.add_source("web", f"http://rebind.test:{target.port}/doc.txt")
        record, _ = manager.sync_source(source.id)
    assert record.status == "error" and "rebind.test is loopback" in (record.error or "")
    assert not target.reached


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    system = small_system(tmp_path)
    with TestClient(create_app(system)) as test_client:
        admin = system.tokens.create("root", "admin").secret
        yield test_client, {"Authorization": f"Bearer {admin}"}


def test_adding_a_link_local_url_over_the_api_is_a_422(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    test_client, admin = client
    body = {"location": "http://169.254.169.254/latest/meta-data/"}
    response = test_client.post("/knowledge/web/sources", json=body, headers=admin)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "egress_denied" and "security.egress_allow" in error["message"]
    assert test_client.get("/knowledge/web/sources", headers=admin).json() == {"sources": []}
