"""neuralab: the neural networks of a deep-learning course, verified against their equations and put to work.

Public API:
    get_model, list_models, register_model      the model registry
    save_model, load_model                       config.json + model.safetensors
    Trainer, seed_everything                     the training engine
"""

from __future__ import annotations

__version__ = "0.1.0"

from neuralab.models.registry import get_model, list_models, register_model  # noqa: E402
from neuralab.train.checkpoint import load_model, save_model  # noqa: E402
from neuralab.utils import seed_everything  # noqa: E402


def __getattr__(name: str):
    # The trainer pulls in tqdm and callbacks; import it on first use.
    if name == "Trainer":
        from neuralab.train.trainer import Trainer

        return Trainer
    raise AttributeError(f"module 'neuralab' has no attribute {name!r}")


__all__ = ["Trainer", "__version__", "get_model", "list_models", "load_model", "register_model",
           "save_model", "seed_everything"]
