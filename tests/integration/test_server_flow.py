"""The whole task flow over real HTTP: a `smolit serve` process, the real encoder and
database, the fake model for most agents and the real bundled SmolLM2 for one."""

from collections.abc import Iterator

import pytest

from tests.integration.server import RunningServer, start_server

CONFIG = """
models:
  default_model: fake
  definitions:
    fake: {backend: fake}
    smollm2: {backend: transformers, path: bundled, max_new_tokens: 24}
agents:
  - name: cooking
    description: Cooking, recipes, kitchen techniques and food safety.
    examples:
      - How long do I boil an egg?
      - How do I roast a chicken?
      - What temperature is safe for pork?
    system_prompt: You are a concise cooking assistant.
    model: smollm2
    knowledge_collection: cooking
    knowledge_paths: [docs/cooking]
  - name: travel
    description: Travel planning, flights, packing and passports.
    examples:
      - What should I pack for a week in Rome?
      - How do I get over jet lag?
      - Do I need a visa for Japan?
  - name: finance
    description: Personal finance, budgeting, saving and debt.
    examples:
      - How do I make a monthly budget?
      - What is compound interest?
      - Should I pay off my credit card first?
"""

EGGS = (
    "# Boiling eggs\n\n"
    "For a runny yolk, boil a large egg for six minutes, then cool it in ice water.\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("home")
    (home / "docs" / "cooking").mkdir(parents=True)
    (home / "docs" / "cooking" / "eggs.md").write_text(EGGS)
    running = start_server(home, CONFIG)
    yield running
    running.stop()


def submit(server: RunningServer, text: str) -> dict[str, object]:
    with server.client() as client:
        task_id = client.post("/tasks", json={"text": text}).json()["id"]
        return client.get(f"/tasks/{task_id}", params={"wait": 120}).json()  # type: ignore[no-any-return]


def test_fake_model_agent_answers_over_http(server: RunningServer) -> None:
    task = submit(server, "What should I pack for a weekend in Paris?")
    assert task["status"] == "succeeded"
    assert task["agent"] == "travel"
    assert task["model"] == "fake@1"  # the registered version that answered
    assert str(task["answer"]).startswith("[fake]")


@pytest.mark.slow
def test_real_local_model_answers_with_knowledge_sources(server: RunningServer) -> None:
    task = submit(server, "How long should I boil an egg for a runny yolk?")
    assert task["status"] == "succeeded", task
    assert (task["agent"], task["model"]) == ("cooking", "smollm2@1")
    assert str(task["answer"]).strip()
    assert task["sources"][0]["title"] == "Boiling eggs"  # type: ignore[index]
    assert task["timings"]["model_seconds"] > 0  # type: ignore[index]


def test_out_of_scope_task_is_not_routed(server: RunningServer) -> None:
    task = submit(server, "Explain the Higgs mechanism in quantum field theory")
    assert task["out_of_scope"] is True
    assert task["agent"] is None
    assert str(task["answer"]).startswith("No agent can handle this task.")


def test_cli_submit_wait_shows_agent_and_reason(server: RunningServer) -> None:
    result = server.cli("task", "submit", "How do I make a monthly budget?", "--wait")
    assert result.returncode == 0, result.stderr
    assert "agent   finance" in result.stdout
    assert "why" in result.stdout


def test_cli_show_prints_the_stored_task_as_json(server: RunningServer) -> None:
    import json

    task_id = server.cli("task", "submit", "Do I need a visa for Japan?").stdout.strip()
    shown = server.cli("task", "show", task_id, "--wait", "60", "--json")
    assert json.loads(shown.stdout)["agent"] == "travel"


def test_cli_agent_add_list_remove(server: RunningServer) -> None:
    added = server.cli(
        "agent",
        "add",
        "gardening",
        "-d",
        "Plants, gardens and lawns.",
        "-e",
        "When should I prune roses?",
        "-e",
        "How often do I water a lawn?",
    )
    assert added.returncode == 0, added.stderr
    assert "gardening" in server.cli("agent", "list").stdout
    task = submit(server, "When is the best time to prune my roses?")
    assert task["agent"] == "gardening"
    assert server.cli("agent", "remove", "gardening").returncode == 0
    assert "gardening" not in server.cli("agent", "list").stdout


def test_requests_without_a_token_are_refused(server: RunningServer) -> None:
    import httpx

    response = httpx.post(f"{server.url}/tasks", json={"text": "hi"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"


def test_cli_with_a_wrong_token_fails_in_one_line(server: RunningServer) -> None:
    result = server.cli("task", "list", token="snn_wrong")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "error: HTTP 401: invalid or revoked token (set SMOLIT_TOKEN or pass --token)"
    )


def test_cli_high_priority_needs_a_privileged_role(server: RunningServer) -> None:
    with server.client() as client:
        token = client.post("/tokens", json={"user": "carol"}).json()["token"]
    result = server.cli("task", "submit", "Do I need a visa?", "--priority", "high", token=token)
    assert result.returncode == 1
    assert "HTTP 403: priority 'high' needs one of the roles in security.privileged_roles" in (
        result.stderr
    )
    admin = server.cli("task", "submit", "Do I need a visa?", "--priority", "high")
    assert admin.returncode == 0 and admin.stdout.strip()
