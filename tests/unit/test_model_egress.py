"""Remote models: API keys only from the secret allowlist, base URLs through the egress policy.

A capture server on loopback stands in for the attacker's endpoint: it must receive nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.config import ModelDefinition
from smolit.errors import ConfigError
from smolit.system import AgentNN
from smolit.testing import LookupEncoder
from tests.unit.capture_server import Capture, capture_server
from tests.unit.helpers import small_settings

ENVIRON = {"SOME_VAR_THAT_IS_SET": "postgresql://app:hunter2@db/app", "OPENAI_KEY": "sk-ok"}


class Api:
    def __init__(self, client: TestClient, system: AgentNN, token: str) -> None:
        self.client, self.system = client, system
        self.auth = {"Authorization": f"Bearer {token}"}

    def register(self, name: str, **definition: Any) -> Any:
        body = {"name": name, "definition": {"backend": "openai", "model": "m", **definition}}
        return self.client.post("/models", json=body, headers=self.auth)

    def chat(self, model: str) -> Any:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        return self.client.post("/v1/chat/completions", json=body, headers=self.auth)


MakeApi = Callable[..., Api]


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[MakeApi]:
    """Builds the whole system (the composition root's own ModelManager) with settings."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> Api:
            settings = small_settings(tmp_path, secrets={"env": ["OPENAI_KEY"]}, **overrides)
            system = AgentNN(settings, encoder=LookupEncoder(), environ=ENVIRON)
            client = stack.enter_context(TestClient(create_app(system)))
            return Api(client, system, system.tokens.create("root", "admin").secret)

        yield make


LOOPBACK_ALLOWED = {"security": {"egress_allow": ["127.0.0.1"]}}


def assert_refused(response: Any, kind: str, rule: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == kind and rule in error["message"]


def test_registering_an_unlisted_api_key_env_is_refused(make_api: MakeApi) -> None:
    api = make_api(**LOOPBACK_ALLOWED)
    with capture_server() as target:
        response = api.register("leak", base_url=target.url, api_key_env="SOME_VAR_THAT_IS_SET")
        assert_refused(response, "secret_not_allowed", "secrets.env")
        assert api.chat("leak").status_code == 404
    assert "hunter2" not in response.text
    assert not target.reached
    assert "leak" not in api.system.models.names()


def test_the_backup_key_variable_cannot_be_named_as_an_api_key(make_api: MakeApi) -> None:
    api = make_api(system={"backup_key_env": "SOME_VAR_THAT_IS_SET"}, **LOOPBACK_ALLOWED)
    with capture_server() as target:
        response = api.register("leak", base_url=target.url, api_key_env="SOME_VAR_THAT_IS_SET")
    assert_refused(response, "secret_not_allowed", "secrets.env")
    assert not target.reached


def test_an_allowlisted_secret_is_sent_to_an_allowed_url(make_api: MakeApi) -> None:
    api = make_api(**LOOPBACK_ALLOWED)
    with capture_server() as target:
        assert api.register("remote", base_url=target.url, api_key_env="OPENAI_KEY").is_success
        assert api.chat("remote").json()["choices"][0]["message"]["content"] == "captured"
    assert target.requests[0]["headers"]["Authorization"] == "Bearer sk-ok"


def test_registering_a_loopback_base_url_is_refused(make_api: MakeApi) -> None:
    api = make_api()
    with capture_server() as target:
        response = api.register("inner", base_url=f"{target.url}/v1")
    assert_refused(response, "egress_denied", "is loopback; add it to security.egress_allow")
    assert not target.reached and "inner" not in api.system.models.names()


def stored_before_the_fix(api: Api, name: str, target: Capture, **definition: Any) -> None:
    """A version registered by an older server, which checked nothing."""
    model = ModelDefinition(backend="openai", base_url=target.url, model="m", **definition)
    api.system.models.catalog.register(name, model)


def test_a_stored_model_with_an_unlisted_secret_sends_nothing(make_api: MakeApi) -> None:
    api = make_api(**LOOPBACK_ALLOWED)
    with capture_server() as target:
        stored_before_the_fix(api, "old", target, api_key_env="SOME_VAR_THAT_IS_SET")
        assert_refused(api.chat("old"), "secret_not_allowed", "secrets.env")
    assert not target.reached


def test_a_stored_model_with_a_refused_base_url_is_checked_on_each_request(
    make_api: MakeApi,
) -> None:
    api = make_api()
    with capture_server() as target:
        stored_before_the_fix(api, "old", target)
        assert_refused(api.chat("old"), "egress_denied", "security.egress_allow")
    assert not target.reached


def test_a_configured_model_naming_an_unlisted_variable_fails_at_start(tmp_path: Path) -> None:
    remote = ModelDefinition(backend="openai", base_url="https://api.test/v1", api_key_env="X")
    models = {"definitions": {"fake": ModelDefinition(backend="fake"), "remote": remote}}
    with pytest.raises(ConfigError, match=r"models\.definitions\.remote\.api_key_env: .*secrets"):
        AgentNN(small_settings(tmp_path, models=models), encoder=LookupEncoder(), environ={})
