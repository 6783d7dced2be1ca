"""The Celery app speaks JSON only: a pickled message is refused before it is decoded."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from kombu.entity import Queue
from kombu.exceptions import ContentDisallowed
from kombu.message import Message
from kombu.messaging import Consumer
from kombu.serialization import loads

from smolit.config import Settings
from smolit.distributed.celery_app import TASK_QUEUE, create_celery
from tests.conftest import RedisServer
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
        loads(body, "application/x-python-serialize", "binary", accept=accept)
    assert not marker.exists()


@pytest.mark.redis
def test_a_pickled_message_in_the_real_queue_is_refused(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    app = create_celery(Settings(queue=redis_server.url))
    marker = tmp_path / "ran"
    seen: list[str] = []

    def refused(_message: Message, exc: Exception) -> None:
        seen.append(type(exc).__name__)

    with app.connection_for_write() as connection:
        connection.Producer(serializer="pickle").publish(
            Exploit(marker), routing_key=TASK_QUEUE, declare=[Queue(TASK_QUEUE)]
        )
        queues = [Queue(TASK_QUEUE)]
        accept = app.conf.accept_content
        with Consumer(connection, queues, accept=accept, on_decode_error=refused):
            connection.drain_events(timeout=5)
    assert seen == ["ContentDisallowed"] and not marker.exists()
