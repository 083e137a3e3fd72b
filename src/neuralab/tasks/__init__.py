"""One module per course system; importing this package registers them all."""

from neuralab.tasks import backprop  # noqa: F401,E402  (registers)
from neuralab.tasks.base import RunResult, TaskContext, TaskOptions, list_tasks, register_task, run_task

__all__ = ["RunResult", "TaskContext", "TaskOptions", "list_tasks", "register_task", "run_task"]
