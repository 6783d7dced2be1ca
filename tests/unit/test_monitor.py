"""``python -m smolit.monitor``: snapshots from /metrics, the dashboard, a server down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from smolit.api import create_app
from smolit.cli.monitor_cmd import main
from smolit.monitor.dashboard import render
from smolit.monitor.snapshot import snapshot_from_metrics
from tests.conftest import free_port
from tests.unit.helpers import small_system


def metrics_after_one_task(home: Path) -> str:
    system = small_system(home)
    with TestClient(create_app(system)) as client:
        auth = {"Authorization": f"Bearer {system.tokens.create('root', 'admin').secret}"}
        task = client.post("/tasks", json={"text": "boil an egg"}, headers=auth).json()
        client.get(f"/tasks/{task['id']}?wait=30", headers=auth)
        return client.get("/metrics").text


def test_a_snapshot_has_tasks_agents_caches_and_resources(tmp_path: Path) -> None:
    snap = snapshot_from_metrics(metrics_after_one_task(tmp_path))
    assert snap["tasks"]["succeeded"] == 1 and snap["throughput_per_minute"] == 1
    assert snap["agents"]["cooking"]["success_rate"] == 1.0
    assert snap["agents"]["travel"]["available"] is True
    assert "response" in snap["cache_hit_rate"] or snap["cache_hit_rate"] == {}
    assert snap["resources"]["process_memory_bytes"] > 0
    assert "0.5" in snap["latency_seconds"]


def test_the_dashboard_shows_agents_and_tasks(tmp_path: Path) -> None:
    snap = snapshot_from_metrics(metrics_after_one_task(tmp_path))
    console = Console(record=True, width=140)
    console.print(render("http://x", snap))
    text = console.export_text()
    assert "cooking" in text and "succeeded" in text and "100.0%" in text


def test_once_json_against_a_down_server_retries_then_fails_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as done:
        main(["--url", url, "--once", "--json", "--retries", "1", "--interval", "0.2"])
    assert done.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert "retrying in 0.2 s" in lines[0]
    assert f"cannot reach {url}/metrics" in lines[-1]
    assert "after 2 attempts" in lines[-1]


def test_json_needs_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--json"])
    assert done.value.code == 2 and "--json needs --once" in capsys.readouterr().err


def test_garbage_metrics_are_a_clear_error() -> None:
    from smolit.errors import ValidationError

    with pytest.raises(ValidationError, match="not Prometheus text"):
        snapshot_from_metrics("this is { not metrics")


def test_once_json_prints_one_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from smolit.metrics import MetricsServer, system_collectors

    system = small_system(tmp_path)
    system.prepare()
    server = MetricsServer(system_collectors(system), 0, host="127.0.0.1")
    try:
        with pytest.raises(SystemExit) as done:
            main(["--url", f"http://127.0.0.1:{server.port}", "--once", "--json"])
    finally:
        server.close()
        system.close()
    assert done.value.code == 0
    snap = json.loads(capsys.readouterr().out)
    assert snap["tasks"]["queued"] == 0 and set(snap["agents"]) == {"cooking", "travel"}
