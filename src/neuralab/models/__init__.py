"""Complete networks, one family per file, registered by name (maths only: no I/O, no optimizer)."""

from neuralab.models import mlp  # noqa: F401  (registers)
from neuralab.models.registry import example_input, get_model, list_models, model_entry, register_model

__all__ = ["example_input", "get_model", "list_models", "model_entry", "register_model"]
