"""Hostile input over every route of the API, in process, on SQLite and on PostgreSQL.

The cases come from the app's OpenAPI document (tests/unit/hostile.py), each sent with an
admin and a user token. Whatever comes in: no 5xx, no hang, every refusal a 4xx in the
error shape, and nothing stored by a refused request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from smolit.api import create_app
from smolit.security.tokens import Role
from smolit.storage.tables import Base
from smolit.system import AgentNN
from smolit.testing import FakeModel
from tests.conftest import private_postgres_database
from tests.unit.helpers import small_system
from tests.unit.hostile import (
    MUTATING,
    VALID_BODIES,
    Case,
    body_cases,
    fill,
    json_operations,
    path_cases,
    query_cases,
)

#: seconds one request may take before it counts as a hang
REQUEST_TIMEOUT = 20
ROLES: tuple[Role, ...] = ("admin", "user")


@dataclass
class Hostile:
    client: TestClient
    system: AgentNN
    tokens: dict[Role, dict[str, str]]
    pool: ThreadPoolExecutor
    openapi: dict[str, Any]

    def stored(self) -> dict[str, int]:
        """Rows per table, and the knowledge base's counts."""
        with self.system.database.read() as session:
            counts = {
                table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables
                if table.name not in ("job_runs", "workers", "metric_rollups")
            }
        stats = self.system.knowledge.stats()
        counts.update({f"knowledge.{k}": v for k, v in stats.items() if isinstance(v, int)})
        return counts

    def send(self, case: Case, role: Role, must_refuse: bool = False) -> list[str]:
        """Problems with the answer to ``case`` (none when it is well refused or harmless);
        with ``must_refuse``, anything but a 422 naming the field is one too."""
        before = self.stored() if case.method in MUTATING else None
        headers = {**self.tokens[role], "Content-Type": "application/json"}
        future = self.pool.submit(
            self.client.request, case.method, case.url, content=case.content, headers=headers
        )
        try:
            response = future.result(timeout=REQUEST_TIMEOUT)
        except FutureTimeout:
            return [f"{role} {case.describe()}: no answer in {REQUEST_TIMEOUT} s"]
        where = f"{role} {case.describe()} -> {response.status_code}: {response.text[:200]}"
        status, error = response.status_code, _error(response.text)
        if status >= 500 or (status >= 400 and error is None):
            return [where]
        if before is not None and status >= 400 and self.stored() != before:
            return [f"{where}: a refused request stored something"]
        if not must_refuse or (status == 403 and role == "user"):
            return []  # or refused before the body matters
        if case.ignorable and status < 300:
            return []  # an unknown field, ignored
        named = case.field is None or (error is not None and case.field in error["message"])
        return [] if status == 422 and named else [f"{where}: not a 422 naming {case.field}"]

    def sweep(self, cases: Iterable[Case], must_refuse: bool = False) -> list[str]:
        return [
            problem
            for case in cases
            for role in ROLES
            for problem in self.send(case, role, must_refuse)
        ]


def _error(body: str) -> dict[str, Any] | None:
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(error, dict) or set(error) != {"type", "message", "details"}:
        return None
    return error


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hostile(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hostile]:
    home = tmp_path_factory.mktemp(request.param)
    with ExitStack() as stack:
        postgres = request.param == "postgresql"
        url = stack.enter_context(private_postgres_database()) if postgres else None
        system = small_system(home, FakeModel(default="fake answer"), storage=url)
        app = create_app(system)
        client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
        pool = stack.enter_context(ThreadPoolExecutor(1))
        system.knowledge.add_document("cooking", "Eggs", "boil an egg for seven minutes", "e.md")
        tokens = {
            role: {"Authorization": f"Bearer {system.tokens.create(role, role).secret}"}
            for role in ROLES
        }
        yield Hostile(client, system, tokens, pool, app.openapi())


def test_every_json_operation_has_a_valid_body_with_every_field(hostile: Hostile) -> None:
    assert set(json_operations(hostile.openapi)) == set(VALID_BODIES)
    schemas = hostile.openapi["components"]["schemas"]
    for (method, route), body in VALID_BODIES.items():
        content = hostile.openapi["paths"][route][method.lower()]["requestBody"]["content"]
        schema = content["application/json"]["schema"]
        schema = next((s for s in schema.get("anyOf", [schema]) if "$ref" in s), schema)
        properties = schemas[schema["$ref"].rsplit("/", 1)[1]]["properties"]
        assert set(properties) <= set(body), (method, route)


def test_lone_surrogates_and_nul_in_every_string_field_are_422_naming_it(
    hostile: Hostile,
) -> None:
    cases = [c for c in body_cases(hostile.openapi) if b"\\u" in (c.content or b"")]
    assert hostile.sweep(cases, must_refuse=True) == []


def test_integers_beyond_64_bits_in_every_body_field_are_422_naming_it(
    hostile: Hostile,
) -> None:
    cases = [c for c in body_cases(hostile.openapi) if b"\\u" not in (c.content or b"")]
    assert hostile.sweep(cases, must_refuse=True) == []


def test_traversal_nul_and_huge_integers_in_every_path_parameter_are_refused(
    hostile: Hostile,
) -> None:
    assert hostile.sweep(path_cases(hostile.openapi)) == []


def test_nul_and_huge_integers_in_every_query_parameter_are_refused(hostile: Hostile) -> None:
    assert hostile.sweep(query_cases(hostile.openapi)) == []


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        json.dumps({f"k{i}": i for i in range(10_000)}).encode(),
        b"x" * 2_000_000,
    ],
    ids=["nested-arrays", "nested-objects", "10000-keys", "oversized"],
)
def test_pathological_json_bodies_are_refused_on_every_json_route(
    hostile: Hostile, content: bytes
) -> None:
    cases = [
        Case(method, route, fill(route), content, "body")
        for method, route in json_operations(hostile.openapi)
    ]
    assert hostile.sweep(cases) == []


@pytest.mark.parametrize("mode", ["keyword", "hybrid", "semantic"])
def test_fts5_and_sql_metacharacters_in_search_are_harmless(hostile: Hostile, mode: str) -> None:
    queries = ['"', '"egg', "*", "egg*", "NEAR(", "NEAR(egg boil", "'; DROP TABLE tasks; --",
               "egg OR 1=1", "^", "^egg", ":", "title:egg", "(", ")", "((egg)", "AND", "NOT",
               "egg AND", "-egg", "+", "{egg}", "%", "_", "\\", "egg\x00"]  # fmt: skip
    cases = [
        Case("GET", "/knowledge/{collection}/search", "/knowledge/cooking/search", None, "q")
        for _ in queries
    ]
    problems = []
    for query, case in zip(queries, cases, strict=True):
        params = {"q": query, "mode": mode}
        url = str(hostile.client.build_request("GET", case.url, params=params).url)
        problems += hostile.send(Case("GET", case.route, url, None, repr(query)), "user")
    assert problems == []
    assert hostile.stored()["tasks"] >= 0  # the tables are still there


def test_a_body_with_ten_thousand_unknown_keys_gets_a_short_answer(hostile: Hostile) -> None:
    content = json.dumps({"text": "boil an egg", **{f"k{i}": i for i in range(10_000)}})
    response = hostile.client.post(
        "/tasks",
        content=content,
        headers={**hostile.tokens["user"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and len(response.content) < 10_000
    assert response.json()["error"]["details"]["more_problems"] == 9_980


def test_a_collection_name_with_a_trailing_newline_is_refused(hostile: Hostile) -> None:
    document = hostile.system.settings.home / "eggs.md"
    document.write_text("# Eggs\n\nboil them\n")
    before = hostile.stored()
    body = {"location": str(document), "sync": False}
    response = hostile.client.post(
        "/knowledge/cooking%0A/sources", json=body, headers=hostile.tokens["admin"]
    )
    assert response.status_code == 422 and "invalid collection name" in response.text
    assert hostile.stored() == before
