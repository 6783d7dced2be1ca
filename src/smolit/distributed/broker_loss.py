"""The Celery consumer of ``smolit worker``: survives losing the broker connection.

A channel of a lost Redis connection cannot talk to Redis any more: kombu builds a new
client from the connection, which Celery has emptied by then, and raises an
``AttributeError`` that Celery treats as unrecoverable, so the worker exits.
``tests/integration/test_outages.py`` saw it twice on a six-second Redis outage (Celery
5.7, kombu 5.7):

- closing the lost channels tries to put their unacknowledged messages back;
- a task that was running when the connection went away finishes after the reconnect
  and its message is acknowledged on the old channel.

This consumer makes both no-ops on the lost connection's channels before Celery touches
them. Nothing is lost: the messages stay in Redis's unacknowledged set until
``visibility_timeout`` and are delivered again; the database holds each task's state, so
a finished task's second delivery does nothing, and the re-queue job sends every task
that is due again before then.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer

logger = logging.getLogger(__name__)


def lost_channels(connection: Any) -> list[Any]:
    """The channels of a kombu connection (virtual transports keep them in lists)."""
    if connection is None:
        return []
    channels: list[Any] = []
    default = getattr(connection, "_default_channel", None)
    if default is not None:
        channels.append(default)
    transport = getattr(connection, "_connection", None)
    for attribute in ("channels", "_avail_channels"):
        channels.extend(getattr(transport, attribute, None) or [])
    return channels


def _skip(*_args: Any, **_kwargs: Any) -> None:
    return None


def detach(channel: Any) -> None:
    """Make a lost channel's put-back and acknowledgements do nothing."""
    channel.do_restore = False
    channel.basic_ack = _skip
    channel.basic_reject = _skip


class BrokerLossConsumer(Consumer):
    def on_connection_error_after_connected(self, exc: Exception) -> None:
        channels = lost_channels(self.connection)
        for channel in channels:
            detach(channel)
        logger.warning(
            "broker connection lost: %d channel(s) detached; unacknowledged messages "
            "come back after the visibility timeout",
            len(channels),
        )
        super().on_connection_error_after_connected(exc)


#: ``worker_consumer`` setting value
CONSUMER_PATH = f"{__name__}:BrokerLossConsumer"
