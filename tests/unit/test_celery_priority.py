"""Task priorities survive the trip through a Celery message and back."""

from smolit.distributed.celery_queue import celery_priority, priority_from_celery
from smolit.tasks.states import PRIORITIES


def test_every_priority_survives_a_round_trip() -> None:
    for priority in PRIORITIES.values():
        assert priority_from_celery(celery_priority(priority)) == priority


def test_high_is_served_first_and_a_message_without_one_is_normal() -> None:
    assert celery_priority(PRIORITIES["high"]) < celery_priority(PRIORITIES["normal"])
    assert celery_priority(PRIORITIES["normal"]) < celery_priority(PRIORITIES["low"])
    assert priority_from_celery(None) == PRIORITIES["normal"]
