"""``smolit worker``'s consumer detaches the channels of a lost broker connection.

Celery and kombu otherwise reach Redis through those channels after the connection is
gone (putting unacknowledged messages back, acknowledging a task that finished during
the outage) and the worker exits; tests/integration/test_outages.py runs the outage.
"""

from __future__ import annotations

from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.transport.redis import Channel

from smolit.distributed.broker_loss import CONSUMER_PATH, BrokerLossConsumer, detach, lost_channels
from tests.conftest import RedisServer


def test_the_lost_connection_s_channels_are_found_and_detached(
    redis_server: RedisServer,
) -> None:
    queue = Queue("smolit-test", Exchange("smolit-test"), "smolit-test")
    with Connection(redis_server.url) as producer:
        producer.SimpleQueue(queue).put("task-id")
    connection = Connection(redis_server.url)
    try:
        message = queue(connection.default_channel).get(no_ack=False)
        assert message is not None and message.payload == "task-id"
        channels = lost_channels(connection)
        assert connection.default_channel in channels
        for channel in channels:
            detach(channel)
        assert connection.default_channel.do_restore is False
        message.ack()  # a no-op now: the message stays unacknowledged in Redis
        default = connection.default_channel
        assert isinstance(default, Channel)
        unacked = default.client.hlen("unacked")
        assert unacked == 1
    finally:
        connection.release()


def test_no_connection_has_no_channels() -> None:
    assert lost_channels(None) == []


def test_the_worker_names_this_consumer() -> None:
    module, name = CONSUMER_PATH.split(":")
    assert (module, name) == (BrokerLossConsumer.__module__, BrokerLossConsumer.__name__)
