"""Training and fine-tuning: facenet-pytorch's helpers (:mod:`~faceprint.training.compat`),
data folders (:mod:`~faceprint.training.data`), losses
(:mod:`~faceprint.training.objectives`) and the training run (:func:`train`)."""

from faceprint.training.compat import BatchTimer, Logger, accuracy, collate_pil, pass_epoch
from faceprint.training.trainer import TrainConfig, train

__all__ = [
    "BatchTimer",
    "Logger",
    "TrainConfig",
    "accuracy",
    "collate_pil",
    "pass_epoch",
    "train",
]
