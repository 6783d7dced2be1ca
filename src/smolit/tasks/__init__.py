"""Task lifecycle: persistence, the local queue, execution."""

from smolit.tasks.manager import TaskManager
from smolit.tasks.states import TaskStatus
from smolit.tasks.view import TaskView

__all__ = ["TaskManager", "TaskStatus", "TaskView"]
