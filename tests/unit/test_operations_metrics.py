"""``/metrics``: every family docs/operations.md lists, and values that move with tasks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from smolit.api import create_app
from smolit.config import ModelDefinition
from smolit.system import AgentNN
from smolit.testing import FakeModel
from tests.unit.helpers import small_system

DOCS = Path(__file__).parents[2] / "docs" / "operations.md"
Api = tuple[TestClient, dict[str, str]]


def metrics_system(home: Path, rollup_interval: float) -> AgentNN:
    return small_system(
        home,
        FakeModel(default="boil it for six minutes"),
        models={
            "default_model": "fake",
            "definitions": {
                "fake": ModelDefinition(backend="fake", cost_per_1k_completion_tokens=1000.0)
            },
        },
        system={"metrics_rollup_interval": rollup_interval},
    )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """Task statistics computed at every scrape (roll-ups off), so values move at once."""
    system = metrics_system(tmp_path, rollup_interval=0)
    with TestClient(create_app(system)) as client:
        admin = system.tokens.create("root", "admin").secret
        yield client, {"Authorization": f"Bearer {admin}"}


def documented_families() -> list[str]:
    """Names in the first column of docs/operations.md's metric tables, except those only
    present in some set-ups (marked "only with")."""
    names = []
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `(smolit_[a-z_]+)(?:\{[^`]*\})?` \|", line)
        if match and "only with" not in line:
            names.append(match.group(1))
    return names


Samples = dict[str, list[tuple[dict[str, str], float]]]


def exposed_families(client: TestClient) -> set[str]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {family.name for family in text_string_to_metric_families(response.text)}


def scrape(client: TestClient) -> Samples:
    """Samples by sample name (``..._total``, ``..._count``), parsed."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for found, v in samples.get(name, []) if labels.items() <= found.items())


def run_task(client: TestClient, auth: dict[str, str]) -> str:
    submitted = client.post("/tasks", json={"text": "boil an egg"}, headers=auth)
    assert submitted.status_code == 202
    task = client.get(f"/tasks/{submitted.json()['id']}?wait=30", headers=auth).json()
    assert task["status"] == "succeeded"
    return str(task["id"])


def test_docs_list_the_metric_families() -> None:
    families = documented_families()
    assert len(families) >= 30
    assert "smolit_http_request_duration_seconds" in families


def test_every_documented_family_is_exposed(api: Api) -> None:
    client, _ = api
    exposed = exposed_families(client)
    missing = [name for name in documented_families() if name not in exposed]
    assert missing == []


def test_task_families_move_when_tasks_run(api: Api) -> None:
    client, auth = api
    before = scrape(client)
    assert value(before, "smolit_tasks", status="succeeded") == 0
    task_id = run_task(client, auth)
    feedback = client.post(f"/tasks/{task_id}/feedback", json={"rating": 4}, headers=auth)
    assert feedback.status_code == 201
    after = scrape(client)
    assert value(after, "smolit_tasks", status="succeeded") == 1
    assert value(after, "smolit_agent_tasks", agent="cooking", status="succeeded") == 1
    assert value(after, "smolit_agent_success_rate", agent="cooking") == 1.0
    assert value(after, "smolit_task_success_rate") == 1.0
    assert value(after, "smolit_task_throughput_per_minute") == 1
    assert value(after, "smolit_user_satisfaction") == 4.0
    assert value(after, "smolit_process_tasks_finished_total") == 1
    assert value(after, "smolit_tasks_per_cpu_second") > 0
    assert value(after, "smolit_task_latency_seconds", quantile="0.5") >= 0


def test_cost_per_task_uses_the_models_rates(api: Api) -> None:
    client, auth = api
    run_task(client, auth)
    # 1000 per 1k completion tokens: one unit per word of the fake answer
    assert value(scrape(client), "smolit_cost_per_task") == 5.0


def test_response_times_are_histograms_per_route_template(api: Api) -> None:
    client, auth = api
    run_task(client, auth)
    families = scrape(client)
    name = "smolit_http_request_duration_seconds_count"
    assert value(families, name, route="/tasks", method="POST", status="202") == 1
    assert value(families, name, route="/tasks/{task_id}", method="GET", status="200") == 1


def test_errors_are_counted_by_route_and_status(api: Api) -> None:
    client, auth = api
    assert client.get("/tasks/nope", headers=auth).status_code == 404
    assert client.get("/no/such/path", headers=auth).status_code == 404
    families = scrape(client)
    assert value(families, "smolit_http_errors_total", route="/tasks/{task_id}", status="404") == 1
    assert value(families, "smolit_http_errors_total", route="unmatched", status="404") == 1
    assert value(families, "smolit_http_error_rate", kind="client") > 0
    assert value(families, "smolit_http_error_rate", kind="server") == 0


def test_availability_counts_agents_that_can_take_work(api: Api) -> None:
    client, _ = api
    families = scrape(client)
    assert value(families, "smolit_agents_available_ratio") == 1.0
    assert value(families, "smolit_agent_available", agent="travel") == 1.0
    assert value(families, "smolit_uptime_seconds") > 0


def test_system_families_describe_host_and_process(api: Api) -> None:
    client, _ = api
    families = scrape(client)
    assert value(families, "smolit_host_memory_bytes", kind="total") > 0
    assert value(families, "smolit_process_memory_bytes") > 0
    assert value(families, "smolit_disk_bytes", kind="free") > 0


def test_a_worker_serves_the_same_families_on_its_own_port(tmp_path: Path) -> None:
    import httpx

    from smolit.metrics import MetricsServer, system_collectors

    system = small_system(tmp_path)
    system.prepare()
    system.tasks.runner.finished = 7
    server = MetricsServer(system_collectors(system), 0, host="127.0.0.1")
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    finally:
        server.close()
        system.close()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "smolit_tasks" in names and "smolit_host_cpu_percent" in names
    assert "smolit_process_tasks_finished_total 7.0" in text


def test_a_taken_metrics_port_is_a_config_error(tmp_path: Path) -> None:
    import socket

    from smolit.errors import ConfigError
    from smolit.metrics import MetricsServer, system_collectors

    system = small_system(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            MetricsServer(system_collectors(system), port, host="127.0.0.1")
    system.close()


def test_rolled_up_counts_plus_the_tasks_they_miss_are_exact(tmp_path: Path) -> None:
    """The ``metric-rollups`` job adds tasks finished a margin ago to a stored total; a
    scrape adds the tasks that total does not cover, so counts are exact at any time."""
    from sqlalchemy import delete

    from smolit.metrics.task_counts import ROLLUP_MARGIN
    from smolit.storage import MetricRollupRow, TaskRow

    system = metrics_system(tmp_path, rollup_interval=60)
    assert "metric-rollups" in system.scheduler.jobs
    with TestClient(create_app(system)) as client:
        auth = {"Authorization": f"Bearer {system.tokens.create('root', 'admin').secret}"}
        first = run_task(client, auth)
        second = run_task(client, auth)
        with system.database.session() as session:  # the first finished long ago
            row = session.get(TaskRow, first)
            assert row is not None and row.finished_at is not None
            row.finished_at = row.finished_at - 2 * ROLLUP_MARGIN
            # start from no roll-up (the scheduler rolled up an empty table at start)
            session.execute(delete(MetricRollupRow))
        rolled = system.task_rollups.refresh()
        assert rolled.by_status == {"succeeded": 1}  # only the first is past the margin
        assert rolled.by_agent == {"cooking": {"succeeded": 1}}
        samples = scrape(client)
        assert value(samples, "smolit_tasks", status="succeeded") == 2
        # a second refresh adds nothing twice, and counts stay exact
        assert system.task_rollups.refresh().by_status == {"succeeded": 1}
        with system.database.session() as session:
            row = session.get(TaskRow, second)
            assert row is not None and row.finished_at is not None
            row.finished_at = row.finished_at - 2 * ROLLUP_MARGIN
            session.execute(delete(MetricRollupRow))  # a fresh roll-up counts both
        assert system.task_rollups.refresh().by_status == {"succeeded": 2}
        assert value(scrape(client), "smolit_tasks", status="succeeded") == 2
