"""`neuralab predict MODEL_DIR INPUT...`: classify new inputs with a saved model directory.

A model directory written by a task stores, beside the weights, `config.json["extra"]["kind"]`: what kind of
inputs the model takes and how to prepare them. Each kind names the function that predicts for it, imported
only when needed (so the image predictor never imports the text tools and vice versa):

    kind               inputs                         predictor
    image-classifier   image files (PNG, JPG, ...)    neuralab.tasks.gestures:predict_images
    text-classifier    texts (quoted on the command)  neuralab.tasks.sentiment:predict_texts

A predictor is `fn(model_dir: Path, inputs: list[str], device: str) -> list[Prediction]`.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from neuralab.errors import ConfigError, DataError
from neuralab.train.checkpoint import read_model_config

PREDICTORS: dict[str, str] = {
    "image-classifier": "neuralab.tasks.gestures:predict_images",
    "text-classifier": "neuralab.tasks.sentiment:predict_texts",
}


@dataclass
class Prediction:
    """One input's prediction: the winning label, its probability, and every class's probability."""

    input: str
    label: str
    probability: float
    probabilities: dict[str, float] = field(default_factory=dict)

    def top(self, k: int) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:k]

    def as_dict(self) -> dict[str, object]:
        return {"input": self.input, "label": self.label, "probability": self.probability,
                "probabilities": self.probabilities}


def model_kind(model_dir: str | os.PathLike[str]) -> str:
    """The predictor kind a model directory declares (`config.json["extra"]["kind"]`)."""
    meta = read_model_config(model_dir)
    kind = (meta.get("extra") or {}).get("kind")
    if kind is None:
        raise ConfigError(f"{Path(model_dir) / 'config.json'} declares no predictor kind (extra.kind); "
                          f"it was not written by a task that supports `neuralab predict` "
                          f"(kinds: {', '.join(sorted(PREDICTORS))})")
    if kind not in PREDICTORS:
        raise ConfigError(f"{Path(model_dir) / 'config.json'}: unknown predictor kind {kind!r}; "
                          f"expected one of {', '.join(sorted(PREDICTORS))}")
    return str(kind)


def predict(model_dir: str | os.PathLike[str], inputs: list[str], device: str = "auto") -> list[Prediction]:
    """Predict every input with the model saved in `model_dir` (dispatching on its declared kind)."""
    if not inputs:
        raise DataError("nothing to predict: give at least one input after MODEL_DIR")
    kind = model_kind(model_dir)
    module_name, fn_name = PREDICTORS[kind].split(":")
    fn = getattr(importlib.import_module(module_name), fn_name)
    return fn(Path(model_dir), list(inputs), device)
