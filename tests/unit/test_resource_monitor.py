"""``ResourceMonitor`` and ``GET /system/resources``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.monitor import ResourceMonitor
from tests.unit.helpers import small_system

Api = tuple[TestClient, dict[str, str]]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    system = small_system(tmp_path, system={"monitor_history": 4})
    with TestClient(create_app(system)) as client:
        admin = system.tokens.create("root", "admin").secret
        yield client, {"Authorization": f"Bearer {admin}"}


def test_history_keeps_the_last_samples_only(tmp_path: Path) -> None:
    monitor = ResourceMonitor(tmp_path, history=3, gpus=False)
    samples = [monitor.sample() for _ in range(5)]
    assert monitor.history() == samples[2:]


def test_rates_appear_from_the_second_sample(tmp_path: Path) -> None:
    monitor = ResourceMonitor(tmp_path, gpus=False)
    first = monitor.sample()
    second = monitor.sample()
    assert first.process_cpu_percent is None
    assert second.process_cpu_percent is not None and second.network_sent_per_second is not None


def test_a_missing_data_directory_measures_its_nearest_parent(tmp_path: Path) -> None:
    sample = ResourceMonitor(tmp_path / "not" / "yet", gpus=False).sample()
    assert sample.disk_path == str(tmp_path) and sample.disk_free_bytes > 0


def test_sample_covers_host_and_process(tmp_path: Path) -> None:
    sample = ResourceMonitor(tmp_path, gpus=False).sample()
    assert sample.host_memory_total_bytes >= sample.host_memory_used_bytes > 0
    assert sample.process_memory_bytes > 0 and sample.process_cpu_seconds > 0
    assert sample.process_count >= 1 and sample.gpus == []


def test_resources_endpoint_needs_a_token(api: Api) -> None:
    client, _ = api
    response = client.get("/system/resources")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"


def test_resources_endpoint_reports_current_and_history(api: Api) -> None:
    client, auth = api
    for _ in range(6):
        body = client.get("/system/resources", headers=auth).json()
    assert body["current"] == body["history"][-1]
    assert len(body["history"]) == 4
    assert body["current"]["host_cpu_count"] >= 1
    assert body["interval_seconds"] == 5.0 and body["uptime_seconds"] > 0


def test_the_server_samples_in_the_background(api: Api) -> None:
    client, _ = api
    system = client.app.state.system  # type: ignore[attr-defined]
    assert "resources" in [task.get_name() for task in system._background]
