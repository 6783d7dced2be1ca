"""One user's feedback moves an agent's estimate only within security.feedback_user_cap."""

import uuid
from pathlib import Path

from smolit.security.tokens import Principal
from smolit.storage import TaskRow
from smolit.system import AgentNN
from tests.unit.helpers import small_system

CAP = 5


def finished_task(system: AgentNN, user: str) -> str:
    """A succeeded task of ``user`` answered by the cooking agent in its 'cooking' skill."""
    task_id = str(uuid.uuid4())
    with system.database.session() as session:
        session.add(
            TaskRow(
                id=task_id,
                text="boil an egg",
                status="succeeded",
                submitted_by=user,
                agent="cooking",
                route={"skill": "cooking/cooking"},
                timeout=30.0,
            )
        )
    return task_id


def rate(system: AgentNN, users: list[str], rating: int = 1) -> None:
    for user in users:
        task_id = finished_task(system, user)
        system.feedback.record(task_id, Principal(user, "user", user), None, rating)


def cooking_means(system: AgentNN) -> tuple[float, float]:
    stats = system.router.learner.stats("cooking")["cooking"]
    return stats["mean"], stats["contexts"]["cooking/cooking"]["mean"]


def prepared(home: Path, database: Path) -> AgentNN:
    system = small_system(
        home, storage=f"sqlite:///{database}", security={"feedback_user_cap": CAP}
    )
    system.prepare()
    return system


def test_one_user_rating_ten_times_moves_no_more_than_cap_ratings(tmp_path: Path) -> None:
    capped = prepared(tmp_path / "a", tmp_path / "a.db")
    rate(capped, ["mallory"] * CAP)
    after_cap = cooking_means(capped)
    rate(capped, ["mallory"] * (10 - CAP))
    after_ten = cooking_means(capped)
    assert after_ten[0] >= after_cap[0] and after_ten[1] >= after_cap[1]


def test_ten_users_rating_once_move_the_estimate_as_before(tmp_path: Path) -> None:
    many = prepared(tmp_path / "a", tmp_path / "a.db")
    rate(many, [f"user{i}" for i in range(10)])
    one = prepared(tmp_path / "b", tmp_path / "b.db")
    rate(one, ["mallory"] * 10)
    uncapped = prepared(tmp_path / "c", tmp_path / "c.db")
    for _ in range(10):
        uncapped.router.learn("cooking", "cooking/cooking", 0.0)
    assert cooking_means(many) == cooking_means(uncapped)
    assert cooking_means(many)[0] < cooking_means(one)[0]


def test_replay_in_another_process_weighs_feedback_as_record_did(tmp_path: Path) -> None:
    first = prepared(tmp_path / "a", tmp_path / "shared.db")
    rate(first, ["mallory"] * 10 + ["alice", "bob"], rating=2)
    rate(first, ["mallory", "alice"], rating=5)
    second = prepared(tmp_path / "b", tmp_path / "shared.db")
    assert second.router.learner.state_dict() == first.router.learner.state_dict()
    assert cooking_means(second) == cooking_means(first)
    assert second.router.learner.state_dict()["agents"]["cooking"]["total"]["users"].keys() == {
        "mallory",
        "alice",
        "bob",
    }
