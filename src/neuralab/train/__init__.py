"""The training engine: fit loop, callbacks, checkpoints. Knows nothing of any model or data set."""

from neuralab.train.callbacks import EarlyStopping, LRScheduler, ModelCheckpoint
from neuralab.train.checkpoint import load_checkpoint, load_model, save_checkpoint, save_model
from neuralab.train.trainer import History, Trainer, make_loader, weight_parameters
from neuralab.utils import seed_everything

__all__ = ["EarlyStopping", "History", "LRScheduler", "ModelCheckpoint", "Trainer", "load_checkpoint",
           "load_model", "make_loader", "save_checkpoint", "save_model", "seed_everything", "weight_parameters"]
