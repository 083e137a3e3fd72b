"""One module per course system; importing this package registers them all."""

from neuralab.tasks import activations  # noqa: F401, I001
from neuralab.tasks import ar_vs_lstm  # noqa: F401
from neuralab.tasks import backprop  # noqa: F401,E402  (registers)
from neuralab.tasks import bptt  # noqa: F401
from neuralab.tasks import convolution  # noqa: F401
from neuralab.tasks import gestures  # noqa: F401
from neuralab.tasks import regularization  # noqa: F401
from neuralab.tasks import rnn_regressor  # noqa: F401
from neuralab.tasks import sentiment  # noqa: F401
from neuralab.tasks import textgen  # noqa: F401
from neuralab.tasks import transfer  # noqa: F401
from neuralab.tasks import translate  # noqa: F401
from neuralab.tasks.base import RunResult, TaskContext, TaskOptions, list_tasks, register_task, run_task

__all__ = ["RunResult", "TaskContext", "TaskOptions", "list_tasks", "register_task", "run_task"]
