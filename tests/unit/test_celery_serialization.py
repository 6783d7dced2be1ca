"""The Celery app speaks JSON only: a pickled message is refused before it is decoded."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from kombu.exceptions import ContentDisallowed
from kombu.serialization import loads

from smolit.config import Settings
from smolit.distributed.celery_app import create_celery
from tests.unit.helpers import Exploit


def app_conf() -> dict[str, object]:
    conf = create_celery(Settings(queue="redis://127.0.0.1:1/0")).conf
    return {
        name: conf[name] for name in ("task_serializer", "accept_content", "result_accept_content")
    }


def test_the_celery_app_sends_and_accepts_json_only() -> None:
    assert app_conf() == {
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
    }


def test_a_pickled_message_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    body = pickle.dumps(Exploit(marker))
    accept = app_conf()["accept_content"]
    with pytest.raises(ContentDisallowed):
        loads(body, "application/x-python-serialize", "binary", accept=accept)  # type: ignore[arg-type]
    assert not marker.exists()
