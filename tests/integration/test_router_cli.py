"""`smolit router train|eval` end to end on a small data set, with the real encoder."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.server import start_server

INTENTS = {
    "weather": [
        "will it rain tomorrow",
        "what is the forecast for today",
        "is it sunny outside",
        "how cold will it be tonight",
        "do I need an umbrella",
        "weather this weekend",
    ],
    "music": [
        "play some jazz",
        "put on my workout playlist",
        "skip this song",
        "turn the music up",
        "play the new album by adele",
        "shuffle my favourite songs",
    ],
    "timer": [
        "set a timer for ten minutes",
        "start a countdown of one hour",
        "cancel my timer",
        "how much time is left on the timer",
        "timer for five minutes please",
        "pause the timer",
    ],
}
OOS = ["what is the meaning of life", "who won the chess olympiad in 1956"]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    train = [
        {"text": t, "label": label, "note": "ignored"} for label, ts in INTENTS.items() for t in ts
    ]
    train += [{"text": t, "label": "oos"} for t in OOS]
    test = [
        {"text": "is it going to snow", "label": "weather"},
        {"text": "play something relaxing", "label": "music"},
        {"text": "set a timer for 3 minutes", "label": "timer"},
        {"text": "book me a table for two", "label": "restaurant"},
        {"text": "what is the meaning of life", "label": "oos"},
    ]
    return {
        "train": write_jsonl(root / "train.jsonl", train),
        "test": write_jsonl(root / "test.jsonl", test),
    }


def smolit(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smolit", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"SMOLIT_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


def test_eval_prints_every_documented_figure(data: dict[str, Path], tmp_path: Path) -> None:
    result = smolit(
        "router",
        "eval",
        "--train",
        str(data["train"]),
        "--test",
        str(data["test"]),
        "--epochs",
        "2",
        "--json",
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in (
        "accuracy",
        "in_scope_accuracy",
        "oos_recall",
        "oos_precision",
        "train_seconds",
        "latency_ms_p50",
        "latency_ms_p95",
        "throughput_per_s",
        "in_scope_accuracy_unthresholded",
        "in_scope_rejected",
        "in_scope_accuracy_at_oos_recall_0.75",
        "in_scope_accuracy_at_oos_recall_0.90",
    ):
        assert key in figures, key
    assert [point["oos_recall"] for point in figures["oos_recall_curve"]] == [1.0, 1.0]
    assert figures["unseen_test_labels"] == ["restaurant"]
    assert figures["in_scope_accuracy"] >= 0.5


def test_eval_reports_a_broken_line_by_number(data: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text(data["train"].read_text() + '{"text": "oops"\n')
    result = smolit(
        "router",
        "eval",
        "--train",
        str(broken),
        "--test",
        str(data["test"]),
        "--json",
        home=tmp_path,
    )
    lines = len(data["train"].read_text().splitlines()) + 1
    assert result.returncode == 2
    assert f"broken.jsonl:{lines}: invalid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_registers_a_version_the_server_routes_with(
    data: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    trained = smolit(
        "router", "train", "--train", str(data["train"]), "--epochs", "2", "--json", home=home
    )
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["version"] == 1
    config = "models:\n  default_model: fake\n  definitions:\n    fake: {backend: fake}\nagents:\n"
    for label, texts in INTENTS.items():
        examples = json.dumps(texts[:3])
        config += (
            f"  - name: {label}\n    description: {label} requests\n    examples: {examples}\n"
        )
    server = start_server(home, config)
    try:
        with server.client() as client:
            task_id = client.post("/tasks", json={"text": "is it going to snow"}).json()["id"]
            task = client.get(f"/tasks/{task_id}", params={"wait": 60}).json()
    finally:
        server.stop()
    assert task["agent"] == "weather"
    assert task["route"]["router_version"] == "router@1"
