"""The CLI at its edge: exit codes and one-line errors, run as a real process."""

import json
import subprocess
import sys
from pathlib import Path

from smolit.cli.models_cmd import default_name
from tests.conftest import free_port


def smolit(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smolit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"SMOLIT_HOME": str(home), "PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_validate_reports_unknown_key_with_exit_code_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("system:\n  colour: blue\n")
    result = smolit("config", "validate", str(config), home=tmp_path)
    assert result.returncode == 2
    assert f"error: {config}: system.colour: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    config = tmp_path / "good.yaml"
    config.write_text("system:\n  task_timeout: 5\n")
    result = smolit("config", "validate", str(config), home=tmp_path)
    assert result.returncode == 0
    assert "valid" in result.stdout


def test_config_show_json_applies_environment(tmp_path: Path) -> None:
    result = smolit(
        "config", "show", "--json", home=tmp_path, env={"SMOLIT_SYSTEM__MAX_CONCURRENT_TASKS": "3"}
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["system"]["max_concurrent_tasks"] == 3


def test_bad_environment_value_is_one_line_exit_2(tmp_path: Path) -> None:
    result = smolit("config", "show", home=tmp_path, env={"SMOLIT_SYSTEM__TASK_TIMEOUT": "soon"})
    assert result.returncode == 2
    assert "system.task_timeout" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_submit_to_a_server_that_is_down_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = smolit("task", "submit", "hello", "--url", url, home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the server")
    assert "Traceback" not in result.stderr


def test_token_create_prints_a_usable_secret(tmp_path: Path) -> None:
    result = smolit("token", "create", "--user", "alice", "--json", home=tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout)["token"].startswith("snn_")


def test_token_create_with_bad_role_fails_cleanly(tmp_path: Path) -> None:
    result = smolit("token", "create", "--user", "alice", "--role", "god", home=tmp_path)
    assert result.returncode == 2
    assert "invalid role" in result.stderr


def test_every_command_has_help(tmp_path: Path) -> None:
    commands = (
        ["serve"],
        ["task", "submit"],
        ["task", "feedback"],
        ["agent", "add"],
        ["config", "validate"],
        ["router", "train"],
        ["router", "eval"],
        ["token", "create"],
        *(["models", c] for c in ("list", "show", "register", "import", "promote")),
        *(["models", c] for c in ("rollback", "remove", "loaded", "unload")),
    )
    for command in commands:
        result = smolit(*command, "--help", home=tmp_path)
        assert result.returncode == 0, command
        assert "Usage" in result.stdout


def test_models_set_values_must_be_key_value(tmp_path: Path) -> None:
    result = smolit("models", "register", "x", "--backend", "fake", "--set", "oops", home=tmp_path)
    assert result.returncode == 2
    assert "--set 'oops': expected KEY=VALUE" in result.stderr


def test_models_commands_say_when_no_server_answers(tmp_path: Path) -> None:
    result = smolit("models", "list", "--url", "http://127.0.0.1:9", home=tmp_path)
    assert result.returncode == 1
    assert "cannot reach the server" in result.stderr and "Traceback" not in result.stderr


def test_default_model_names_come_from_file_names() -> None:
    assert default_name(Path("/x/SmolLM2-135M-Instruct.Q4_1.gguf")) == "smollm2-135m-instruct"
    assert default_name(Path("my model dir")) == "my-model-dir"


def test_serve_and_worker_name_an_unreachable_queue(tmp_path: Path) -> None:
    (tmp_path / "smolit.yaml").write_text(f"queue: redis://127.0.0.1:{free_port()}/0\n")
    for command in (["serve", "--port", str(free_port())], ["worker"]):
        result = smolit(*command, home=tmp_path)
        assert result.returncode != 0, command
        assert "cannot reach the task queue at redis://127.0.0.1:" in result.stderr, command
        assert "Traceback" not in result.stderr


def test_worker_needs_the_distributed_mode(tmp_path: Path) -> None:
    result = smolit("worker", home=tmp_path)
    assert result.returncode == 2 and "queue: redis://" in result.stderr


def test_router_train_refuses_bad_training_options_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(f'{{"text": "t{i}", "label": "l{i % 2}"}}\n' for i in range(8)), encoding="utf-8"
    )
    cases = {
        ("--precision", "fp8"): "precision must be one of auto, fp32, bf16, not 'fp8'",
        ("--layers", "3"): "tuned layers must be between 1 and the 3 layers kept, not 4",
    }
    for options, message in cases.items():
        result = smolit("router", "train", "--train", str(data), *options, home=tmp_path)
        assert result.returncode == 2, options
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
