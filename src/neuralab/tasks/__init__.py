"""One module per course system; importing this package registers them all."""

from neuralab.tasks import activations  # noqa: F401, I001
from neuralab.tasks import backprop  # noqa: F401,E402  (registers)
from neuralab.tasks import convolution  # noqa: F401
from neuralab.tasks import regularization  # noqa: F401
from neuralab.tasks.base import RunResult, TaskContext, TaskOptions, list_tasks, register_task, run_task

__all__ = ["RunResult", "TaskContext", "TaskOptions", "list_tasks", "register_task", "run_task"]
